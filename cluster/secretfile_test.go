package cluster

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestCheckSecretFile(t *testing.T) {
	tests := []struct {
		name string
		mode fs.FileMode
		data string
		want error
	}{
		{"private", 0o600, "0123456789abcdef\n", nil},
		{"owner read only", 0o400, "0123456789abcdef", nil},
		{"world readable", 0o644, "0123456789abcdef", ErrSecretFileOpen},
		{"group readable", 0o640, "0123456789abcdef", ErrSecretFileOpen},
		{"empty", 0o600, "", ErrSecretFileEmpty},
		{"only white space", 0o600, " \n\t\n", ErrSecretFileEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckSecretFile("/etc/meridian/psk", tt.mode, []byte(tt.data))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && (!strings.Contains(err.Error(), "/etc/meridian/psk") || strings.Contains(err.Error(), "0123456789")) {
				t.Errorf("err = %v: want the file named and the secret not quoted", err)
			}
		})
	}
}

func TestCheckToken(t *testing.T) {
	for tok, ok := range map[string]bool{"": false, "x": false, "0123456789abcde": false, "0123456789abcdef": true} {
		if err := CheckToken(tok); (err == nil) != ok || (err != nil && tok != "" && strings.Contains(err.Error(), tok)) {
			t.Errorf("CheckToken(%q) = %v", tok, err)
		}
	}
}

func TestParseTokens(t *testing.T) {
	const a, b = "aaaaaaaaaaaaaaaa1", "bbbbbbbbbbbbbbbb2"
	tests := []struct {
		name    string
		data    string
		want    []NamedToken
		wantErr string
	}{
		{"bare token", a + "\n", []NamedToken{{"admin", a}}, ""},
		{"named", "# operators\nalice " + a + "\n\nbob " + b + "\n", []NamedToken{{"alice", a}, {"bob", b}}, ""},
		{"short", "alice short\n", nil, "tokens:1: alice: token is too short: 5 bytes"},
		{"three fields", "alice " + a + " extra\n", nil, "tokens:1: want NAME TOKEN or TOKEN, got 3 fields"},
		{"duplicate name", "alice " + a + "\nalice " + b + "\n", nil, "tokens:2: name alice already used on line 1"},
		{"duplicate token", "alice " + a + "\nbob " + a + "\n", nil, "tokens:2: bob: same token as line 1"},
		{"empty", "# nothing\n", nil, "tokens: empty: no token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTokens("tokens", []byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), a) || strings.Contains(err.Error(), b) {
					t.Errorf("err quotes a token: %v", err)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("token %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}
