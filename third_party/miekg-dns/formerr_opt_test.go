package dns

import "testing"

func TestRequestHasOPT(t *testing.T) {
	q := new(Msg)
	q.SetQuestion("traffic.support.example.com.", TypeA)
	plain, _ := q.Pack()
	q.SetEdns0(1232, false)
	withOPT, _ := q.Pack()
	// An ECS option of an unknown family (3): the message does not unpack.
	bad := append(append([]byte{}, withOPT[:len(withOPT)-2]...), 0, 9, 0, 8, 0, 5, 0, 3, 8, 0, 10)
	compressed := new(Msg)
	compressed.SetQuestion("a.example.", TypeA)
	compressed.Answer = []RR{&A{Hdr: RR_Header{Name: "a.example.", Rrtype: TypeA, Class: ClassINET, Ttl: 60}, A: []byte{192, 0, 2, 1}}}
	compressed.Compress = true
	compressed.SetEdns0(1232, false)
	withAnswer, _ := compressed.Pack()
	tests := []struct {
		name string
		m    []byte
		want bool
	}{
		{"no opt", plain, false},
		{"opt", withOPT, true},
		{"opt with an unreadable option", bad, true},
		{"opt after a compressed answer", withAnswer, true},
		{"header only", withOPT[:12], false},
		{"truncated opt", withOPT[:len(withOPT)-5], false},
		{"label past the end", []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 63, 'a'}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if new(Msg).Unpack(tt.m) == nil && tt.name == "opt with an unreadable option" {
				t.Fatal("the unreadable message unpacks")
			}
			dh, off, err := unpackMsgHdr(tt.m, 0)
			if err != nil {
				t.Fatalf("header: %v", err)
			}
			if got := requestHasOPT(tt.m, dh, off); got != tt.want {
				t.Errorf("requestHasOPT = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzRequestHasOPT reads hostile requests: it never panics or reads past
// the end.
func FuzzRequestHasOPT(f *testing.F) {
	q := new(Msg)
	q.SetQuestion("a.example.", TypeA)
	q.SetEdns0(1232, false)
	m, _ := q.Pack()
	f.Add(m)
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 63, 'a'})
	f.Fuzz(func(t *testing.T, m []byte) {
		if dh, off, err := unpackMsgHdr(m, 0); err == nil {
			requestHasOPT(m, dh, off)
		}
	})
}
