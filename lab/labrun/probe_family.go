package labrun

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/pion/stun"
)

// allocateFamily sends an Allocate request with REQUESTED-ADDRESS-FAMILY
// (RFC 8656 section 7.1) to the TURN server at server, by hand: pion's
// client never sends the attribute. It returns "relayed ADDR" (the
// allocation is released again) or "error CODE REASON".
func allocateFamily(server, user, pass, family string) (string, error) {
	var fv byte
	switch family {
	case "4":
		fv = 0x01
	case "6":
		fv = 0x02
	default:
		return "", fmt.Errorf("family %q: want 4 or 6", family)
	}
	raddr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return "", err
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	attrs := []stun.Setter{
		stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}},
		stun.RawAttribute{Type: stun.AttrRequestedAddressFamily, Value: []byte{fv, 0, 0, 0}},
	}
	allocate := stun.NewType(stun.MethodAllocate, stun.ClassRequest)
	// Without credentials first: the 401 carries the realm and nonce.
	res, err := roundTrip(conn, append([]stun.Setter{stun.TransactionID, allocate}, attrs...)...)
	if err != nil {
		return "", err
	}
	var code stun.ErrorCodeAttribute
	var realm stun.Realm
	var nonce stun.Nonce
	if code.GetFrom(res) != nil || code.Code != stun.CodeUnauthorized || realm.GetFrom(res) != nil || nonce.GetFrom(res) != nil {
		return "", fmt.Errorf("allocate without credentials: want 401 with realm and nonce, got %s", res)
	}
	integrity := stun.NewLongTermIntegrity(user, realm.String(), pass)
	auth := []stun.Setter{stun.NewUsername(user), realm, nonce, integrity}
	res, err = roundTrip(conn, append(append([]stun.Setter{stun.TransactionID, allocate}, attrs...), auth...)...)
	if err != nil {
		return "", err
	}
	if res.Type.Class == stun.ClassErrorResponse {
		if err := code.GetFrom(res); err != nil {
			return "", fmt.Errorf("error response without ERROR-CODE: %s", res)
		}
		return fmt.Sprintf("error %d %s", code.Code, code.Reason), nil
	}
	var relayed stun.XORMappedAddress
	if err := relayed.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil {
		return "", fmt.Errorf("allocate success without XOR-RELAYED-ADDRESS: %w", err)
	}
	// Release it: Refresh with LIFETIME 0.
	_, _ = roundTrip(conn, append([]stun.Setter{stun.TransactionID, stun.NewType(stun.MethodRefresh, stun.ClassRequest),
		stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0, 0}}}, auth...)...)
	return "relayed " + relayed.String(), nil
}

// roundTrip sends one request built from setters (with a FINGERPRINT) and
// returns the answer with its transaction id, retrying three times.
func roundTrip(conn *net.UDPConn, setters ...stun.Setter) (*stun.Message, error) {
	req, err := stun.Build(append(setters, stun.Fingerprint)...)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 1500)
	for range 3 {
		if _, err := conn.Write(req.Raw); err != nil {
			return nil, err
		}
		_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				break // timeout: send again
			}
			res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if res.Decode() == nil && res.TransactionID == req.TransactionID {
				return res, nil
			}
		}
	}
	return nil, errors.New("no answer to " + req.Type.String())
}

// permissions allocates on server and asks a permission for each peer,
// printing one line per peer.
func permissions(out io.Writer, server, user, pass string, peers []string) error {
	c, _, closeAll, err := allocation(server, user, pass)
	if err != nil {
		return err
	}
	defer closeAll()
	for _, p := range peers {
		ip := net.ParseIP(p)
		if ip == nil {
			return fmt.Errorf("peer %q: not an IP address", p)
		}
		if err := c.CreatePermission(&net.UDPAddr{IP: ip, Port: 9}); err != nil {
			fmt.Fprintf(out, "%s refused %v\n", p, err)
		} else {
			fmt.Fprintf(out, "%s ok\n", p)
		}
	}
	return nil
}

// metric returns the value of the unlabelled metric name at url, a
// Prometheus text exposition.
func metric(url, name string) (string, error) {
	resp, err := probeClient.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("GET %s: no metric %s", url, name)
}

// etcdStatus asks the etcd member at url (its client URL) for its status
// through etcd's JSON gateway and returns its member id and its raft
// leader's id.
func etcdStatus(url string) (member, leader string, err error) {
	resp, err := probeClient.Post(url+"/v3/maintenance/status", "application/json", strings.NewReader("{}"))
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var st struct {
		Header struct {
			MemberID string `json:"member_id"`
		} `json:"header"`
		Leader string `json:"leader"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&st); err != nil {
		return "", "", fmt.Errorf("etcd status at %s: %w", url, err)
	}
	if st.Header.MemberID == "" || st.Leader == "" {
		return "", "", fmt.Errorf("etcd status at %s: no member or leader id", url)
	}
	return st.Header.MemberID, st.Leader, nil
}
