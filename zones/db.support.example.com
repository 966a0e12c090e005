; Static data of support.example.com. for CoreDNS's file plugin: the names
; Meridian does not own. The support hostname (here the apex), the traffic
; hostname, the nodes' canonical names and the relay SRV names come from the
; meridian plugin, which answers them before this file is asked; SOA and NS
; at the apex are answered by meridian too and match the ones here.
$ORIGIN support.example.com.
$TTL 300
@    30 IN SOA  ns1.support.example.com. hostmaster.support.example.com. (
                1       ; serial
                3600    ; refresh
                600     ; retry
                86400   ; expire
                30 )    ; negative TTL
        IN NS   ns1.support.example.com.
        IN NS   ns2.support.example.com.

; name servers (glue)
ns1     IN A    192.0.2.53
ns1     IN AAAA 2001:db8::53
ns2     IN A    198.51.100.53
ns2     IN AAAA 2001:db8:1::53

; records Meridian does not own
www     IN A    192.0.2.80
www     IN AAAA 2001:db8::80
status  IN CNAME www.support.example.com.
