package cluster

import (
	"flag"
	"os"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../zones/example.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(minimal))
	f.Add([]byte("nodes: [{prefixes: [1.2.3.4/255.255.0.0]}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	// While fuzzing, an input that takes longer than the bound fails: Go's
	// fuzzer reports crashes but not hangs. The seed corpus run in the test
	// suite is not timed.
	fuzzing := flag.Lookup("test.fuzz").Value.String() != ""
	const bound = 100 * time.Millisecond
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		s, err := Parse("fuzz.yaml", data)
		if (s == nil) == (err == nil) {
			t.Fatalf("Parse returned site %v and error %v", s != nil, err)
		}
		if d := time.Since(start); fuzzing && d > bound {
			t.Fatalf("Parse of %d bytes took %s, more than %s", len(data), d, bound)
		}
	})
}

func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.1.0.0/16", "10.1.0.0/255.255.0.0", "10.1.2.3", "2001:db8::/32", "1.2.3.4/255.0.255.0", "::ffff:1.2.3.4/128"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p.Masked() != p {
			t.Fatalf("ParsePrefix(%q) = %v: invalid or host bits set", s, p)
		}
		// The canonical form reads back to the same prefix.
		if q, err := ParsePrefix(p.String()); err != nil || q != p {
			t.Fatalf("round trip of %q: %v, %v", s, q, err)
		}
	})
}
