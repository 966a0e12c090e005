package meridian

import (
	"encoding/binary"
	"sync"

	"github.com/miekg/dns"
)

// A query whose EDNS options the DNS library cannot parse at all (an ECS
// option of an unknown family, or with a prefix longer than its family)
// never reaches a plugin: the library answers FORMERR itself and leaves the
// OPT record out, so the resolver takes the server for one without EDNS.
// RFC 6891 section 7 and RFC 7871 section 7.2.1 want FORMERR with OPT.
// The library's invalid-message hook sees the raw query and the UDP write
// decorator sees the raw answer; together they put the OPT back.
//
// The hook is process-wide in the library, so the table of queries that
// had an OPT record is too: it is bounded and holds only query ids and
// questions.

// formerrOPT remembers unparseable queries that carried an OPT record,
// keyed by id and question as they come back in the library's FORMERR.
type formerrOPT struct {
	mu    sync.Mutex
	keys  map[string]struct{}
	order []string // oldest first, for the bound
}

// maxFormerrKeys bounds the table: an entry lives from the hook to the
// write a moment later, so only a flood of bad queries fills it, and then
// the oldest are dropped (their FORMERR goes out without OPT, as before).
const maxFormerrKeys = 4096

var invalidWithOPT = &formerrOPT{keys: map[string]struct{}{}}

var installHookOnce sync.Once

// installFormerrHook chains the library's invalid-message hook once per
// process.
func installFormerrHook() {
	installHookOnce.Do(func() {
		prev := dns.DefaultMsgInvalidFunc
		dns.DefaultMsgInvalidFunc = func(m []byte, err error) {
			invalidWithOPT.observe(m)
			if prev != nil {
				prev(m, err)
			}
		}
	})
}

// observe records m when it carries an OPT record.
func (f *formerrOPT) observe(m []byte) {
	key, ok := questionKey(m)
	if !ok || !hasOPT(m) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.keys[key]; dup {
		return
	}
	if len(f.order) >= maxFormerrKeys {
		delete(f.keys, f.order[0])
		f.order = f.order[1:]
	}
	f.keys[key] = struct{}{}
	f.order = append(f.order, key)
}

// take reports whether the answer's query was recorded, and forgets it.
func (f *formerrOPT) take(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.keys[key]; !ok {
		return false
	}
	delete(f.keys, key)
	for i, k := range f.order {
		if k == key {
			f.order = append(f.order[:i], f.order[i+1:]...)
			break
		}
	}
	return true
}

// formerrWriter puts an OPT record into the library's own FORMERR answers
// to queries that had one.
type formerrWriter struct {
	dns.Writer
}

// decorateFormerr is the UDP write decorator of the server blocks that
// run the plugin.
func decorateFormerr(w dns.Writer) dns.Writer { return formerrWriter{w} }

// optRR is a root-owned OPT record: UDP size 1232, no extended rcode, no
// flags, no options.
var optRR = []byte{0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0}

func (w formerrWriter) Write(b []byte) (int, error) {
	if len(b) < 12 || b[3]&0x0f != dns.RcodeFormatError || binary.BigEndian.Uint16(b[10:]) != 0 {
		return w.Writer.Write(b)
	}
	key, ok := questionKey(b)
	if !ok || !invalidWithOPT.take(key) {
		return w.Writer.Write(b)
	}
	out := make([]byte, len(b), len(b)+len(optRR))
	copy(out, b)
	binary.BigEndian.PutUint16(out[10:], 1)
	out = append(out, optRR...)
	if _, err := w.Writer.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// questionKey is the message id and its first question as wire bytes.
func questionKey(m []byte) (string, bool) {
	if len(m) < 12 || binary.BigEndian.Uint16(m[4:]) == 0 {
		return "", false
	}
	end, ok := skipName(m, 12)
	if !ok || end+4 > len(m) {
		return "", false
	}
	return string(m[0:2]) + string(m[12:end+4]), true
}

// hasOPT reports whether the additional section of the raw message m has
// an OPT record, reading only lengths and types.
func hasOPT(m []byte) bool {
	if len(m) < 12 {
		return false
	}
	qd := int(binary.BigEndian.Uint16(m[4:]))
	rrs := int(binary.BigEndian.Uint16(m[6:])) + int(binary.BigEndian.Uint16(m[8:]))
	ar := int(binary.BigEndian.Uint16(m[10:]))
	off := 12
	for i := 0; i < qd; i++ {
		end, ok := skipName(m, off)
		if !ok || end+4 > len(m) {
			return false
		}
		off = end + 4
	}
	for i := 0; i < rrs+ar; i++ {
		end, ok := skipName(m, off)
		if !ok || end+10 > len(m) {
			return false
		}
		if i >= rrs && binary.BigEndian.Uint16(m[end:]) == dns.TypeOPT {
			return true
		}
		off = end + 10 + int(binary.BigEndian.Uint16(m[end+8:]))
	}
	return false
}

// skipName returns the offset after the name at off.
func skipName(m []byte, off int) (int, bool) {
	for range 128 { // a name has at most 127 labels
		if off >= len(m) {
			return 0, false
		}
		switch l := int(m[off]); {
		case l == 0:
			return off + 1, true
		case l&0xc0 == 0xc0:
			return off + 2, off+2 <= len(m)
		case l&0xc0 != 0:
			return 0, false
		default:
			off += 1 + l
		}
	}
	return 0, false
}
