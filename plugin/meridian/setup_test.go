package meridian

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/coredns/caddy"
)

func TestParse(t *testing.T) {
	dir := t.TempDir()
	psk := writePSK(t, dir, testKey)
	short := writePSK(t, t.TempDir(), "tooshort")
	tests := []struct {
		name    string
		input   string
		wantErr string // "" means success
		check   func(t *testing.T, c Config)
	}{
		{"minimal", "meridian {\ndirector http://127.0.0.1:7700\npsk_file PSK\n}", "", func(t *testing.T, c Config) {
			if len(c.Directors) != 1 || c.Directors[0] != "http://127.0.0.1:7700" || c.PSK.IsZero() || c.Explain || c.Fall.Zones != nil {
				t.Errorf("got %+v", c)
			}
			if len(c.Zones) != 1 || c.Zones[0] != "support.example.com." {
				t.Errorf("zones %v, want the server block's", c.Zones)
			}
		}},
		{"full", `meridian traffic.support.example.com {
			director https://director.example.com:7700
			psk_file PSK
			cache_dir /var/lib/meridian/dns
			geoip /var/lib/GeoLite2-City.mmdb
			site example
			id dns/ns1
			explain on
			fallthrough example.org
		}`, "", func(t *testing.T, c Config) {
			if c.CacheDir != "/var/lib/meridian/dns" || c.GeoIP != "/var/lib/GeoLite2-City.mmdb" ||
				c.Site != "example" || c.ID != "dns/ns1" || !c.Explain {
				t.Errorf("got %+v", c)
			}
			if len(c.Zones) != 1 || c.Zones[0] != "traffic.support.example.com." {
				t.Errorf("zones %v", c.Zones)
			}
			if len(c.Fall.Zones) != 1 || c.Fall.Zones[0] != "example.org." {
				t.Errorf("fallthrough %v", c.Fall.Zones)
			}
		}},
		{"two directors", "meridian {\ndirector http://10.0.0.1:7700 https://10.0.0.2:7700\npsk_file PSK\n}", "", func(t *testing.T, c Config) {
			if len(c.Directors) != 2 || c.Directors[0] != "http://10.0.0.1:7700" || c.Directors[1] != "https://10.0.0.2:7700" {
				t.Errorf("directors %v", c.Directors)
			}
		}},
		{"fallthrough all", "meridian {\ndirector http://127.0.0.1:7700\npsk_file PSK\nexplain off\nfallthrough\n}", "", func(t *testing.T, c Config) {
			if len(c.Fall.Zones) != 1 || c.Fall.Zones[0] != "." || c.Explain {
				t.Errorf("got %+v", c)
			}
		}},

		{"no block", "meridian", "director is required", nil},
		{"no director", "meridian {\npsk_file PSK\n}", "director is required", nil},
		{"no psk", "meridian {\ndirector http://127.0.0.1:7700\n}", "psk_file is required", nil},
		{"two blocks", "meridian {\ndirector http://a:1\npsk_file PSK\n}\nmeridian {\ndirector http://a:1\npsk_file PSK\n}", "only one meridian block", nil},
		{"unknown property", "meridian {\ndirector http://a:1\npsk_file PSK\ncolour blue\n}", "unknown property 'colour'", nil},

		{"director no arg", "meridian {\ndirector\n}", "Wrong argument count", nil},
		{"director twice", "meridian {\ndirector http://a:1\ndirector http://b:1\npsk_file PSK\n}", "director given twice", nil},
		{"director second bad", "meridian {\ndirector http://a:1 b:1\npsk_file PSK\n}", `director "b:1": want`, nil},
		{"director bad scheme", "meridian {\ndirector ftp://a:1\n}", `director "ftp://a:1": want`, nil},
		{"director no host", "meridian {\ndirector http://\n}", "want http://HOST:PORT", nil},
		{"psk_file no arg", "meridian {\npsk_file\n}", "Wrong argument count", nil},
		{"psk_file two args", "meridian {\npsk_file PSK PSK\n}", "Wrong argument count", nil},
		{"psk_file missing", "meridian {\npsk_file /nonexistent/psk\n}", "psk_file: open /nonexistent/psk", nil},
		{"psk_file short", "meridian {\npsk_file " + short + "\n}", "too short", nil},
		{"cache_dir no arg", "meridian {\ncache_dir\n}", "Wrong argument count", nil},
		{"cache_dir two args", "meridian {\ncache_dir a b\n}", "Wrong argument count", nil},
		{"geoip no arg", "meridian {\ngeoip\n}", "Wrong argument count", nil},
		{"geoip two args", "meridian {\ngeoip a b\n}", "Wrong argument count", nil},
		{"site no arg", "meridian {\nsite\n}", "Wrong argument count", nil},
		{"site two args", "meridian {\nsite a b\n}", "Wrong argument count", nil},
		{"id no arg", "meridian {\nid\n}", "Wrong argument count", nil},
		{"id two args", "meridian {\nid a b\n}", "Wrong argument count", nil},
		{"explain no arg", "meridian {\nexplain\n}", "Wrong argument count", nil},
		{"explain two args", "meridian {\nexplain on off\n}", "Wrong argument count", nil},
		{"explain bad", "meridian {\nexplain yes\n}", `explain "yes": want on or off`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", strings.ReplaceAll(tt.input, "PSK", psk))
			c.ServerBlockKeys = []string{"support.example.com."}
			cfg, err := parse(c)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.check != nil {
				tt.check(t, cfg)
			}
		})
	}
}

// TestSetupErrorNamesPlugin checks that setup wraps parse errors once,
// naming the plugin, and never shows the key.
func TestSetupErrorNamesPlugin(t *testing.T) {
	psk := writePSK(t, t.TempDir(), testKey)
	c := caddy.NewTestController("dns", "meridian {\npsk_file "+psk+"\nbogus\n}")
	err := setup(c)
	if err == nil || !strings.HasPrefix(err.Error(), "plugin/meridian: ") {
		t.Fatalf("err = %v, want plugin/meridian: ...", err)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Fatal("error shows the key")
	}
}

// TestREADMECorefiles loads every example Corefile of README.md, and the
// root Corefile, through CoreDNS's setup of all their directives.
func TestREADMECorefiles(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	psk := writePSK(t, t.TempDir(), testKey)
	blocks := regexp.MustCompile("(?s)~~~ corefile\n(.*?)~~~").FindAllStringSubmatch(string(b), -1)
	if len(blocks) < 2 {
		t.Fatalf("README has %d corefile examples, want at least 2", len(blocks))
	}
	var corefiles []string
	for _, m := range blocks {
		corefiles = append(corefiles, m[1])
	}
	// And the sample deployment at the top of the tree.
	root, err := os.ReadFile("../../Corefile")
	if err != nil {
		t.Fatal(err)
	}
	corefiles = append(corefiles, string(root))
	for i, c := range corefiles {
		corefile := strings.ReplaceAll(c, "/etc/meridian/psk", psk)
		// Listen nowhere: this only runs the setup functions.
		corefile = strings.ReplaceAll(corefile, "prometheus :9153", "prometheus 127.0.0.1:0")
		in := caddy.CaddyfileInput{Contents: []byte(corefile), Filepath: "README.md", ServerTypeName: "dns"}
		if err := caddy.ValidateAndExecuteDirectives(in, nil, true); err != nil {
			t.Errorf("Corefile %d: %v\n%s", i+1, err, corefile)
		}
	}
}
