package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// MinTokenLen is the shortest admin or client token accepted: a shorter
// one can be guessed against the admin API.
const MinTokenLen = 16

// Secret file problems, tested with errors.Is.
var (
	// ErrSecretFileOpen is a secret file that the group or others may read.
	ErrSecretFileOpen = errors.New("readable by group or others")
	// ErrSecretFileEmpty is a secret file with nothing but white space.
	ErrSecretFileEmpty = errors.New("empty")
)

// CheckSecretFile says what is wrong with a secret file (a PSK or token
// file) of the given mode and contents, or nil. A file that others may read
// leaks the site's key to every account on the machine.
func CheckSecretFile(name string, mode fs.FileMode, data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%s: %w", name, ErrSecretFileEmpty)
	}
	if perm := mode.Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s: %w (mode %04o; chmod 600 it)", name, ErrSecretFileOpen, perm)
	}
	return nil
}

// CheckToken says what is wrong with an admin or client token, without
// quoting it.
func CheckToken(tok string) error {
	if len(tok) < MinTokenLen {
		return fmt.Errorf("token is too short: %d bytes, want at least %d", len(tok), MinTokenLen)
	}
	return nil
}

// NamedToken is one operator's admin token: the name is the author that
// the audit and the config history record for that operator's changes.
type NamedToken struct {
	Name  string
	Token string
}

// ParseTokens reads a token file: one token per line, either "NAME TOKEN"
// or a bare TOKEN (named "admin"); blank lines and lines starting with #
// are skipped. Problems name the file and line, never the token.
func ParseTokens(file string, data []byte) ([]NamedToken, error) {
	var out []NamedToken
	names := map[string]int{}
	tokens := map[string]int{}
	var errs []error
	for i, line := range bytes.Split(data, []byte("\n")) {
		n := i + 1
		f := strings.Fields(string(line))
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		var nt NamedToken
		switch len(f) {
		case 1:
			nt = NamedToken{Name: "admin", Token: f[0]}
		case 2:
			nt = NamedToken{Name: f[0], Token: f[1]}
		default:
			errs = append(errs, fmt.Errorf("%s:%d: want NAME TOKEN or TOKEN, got %d fields", file, n, len(f)))
			continue
		}
		if err := CheckToken(nt.Token); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %w", file, n, nt.Name, err))
			continue
		}
		if prev, dup := names[nt.Name]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: name %s already used on line %d", file, n, nt.Name, prev))
			continue
		}
		if prev, dup := tokens[nt.Token]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: %s: same token as line %d", file, n, nt.Name, prev))
			continue
		}
		names[nt.Name], tokens[nt.Token] = n, n
		out = append(out, nt)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w: no token", file, ErrSecretFileEmpty)
	}
	return out, nil
}
