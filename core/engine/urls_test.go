package engine

import "testing"

func TestPublicHTTPS(t *testing.T) {
	for _, u := range []string{
		"https://graph.instagram.com", "https://graph.facebook.com/", "https://api.zenvia.com:443/v2",
		"https://GRAPH.instagram.com.", "https://8.8.8.8", "https://[2001:4860:4860::8888]/",
	} {
		if why := publicHTTPS(u); why != "" {
			t.Errorf("publicHTTPS(%q) = %q, want it accepted", u, why)
		}
	}
	for _, u := range []string{
		"http://graph.instagram.com", "ftp://graph.instagram.com", "graph.instagram.com", "https://", "",
		"https://user:pass@graph.instagram.com",
		"https://127.0.0.1", "https://127.0.0.1:8443", "https://127.1", "https://2130706433", "https://0x7f.0.0.1", "https://0177.0.0.1",
		"https://[::1]", "https://[::ffff:127.0.0.1]", "https://0.0.0.0", "https://0.1.2.3", "https://[::]",
		"https://169.254.169.254/latest/meta-data", "https://[fe80::1%25eth0]", "https://[fe80::1]",
		"https://10.0.0.5", "https://172.16.0.1", "https://192.168.1.1", "https://100.64.0.1", "https://[fd00::1]", "https://[fec0::1]",
		"https://224.0.0.1",
		"https://localhost", "https://LOCALHOST:8443", "https://api.localhost", "https://printer.local", "https://metadata.google.internal",
		"https://router.home.arpa", "https://metadata", "https://graph",
	} {
		if why := publicHTTPS(u); why == "" {
			t.Errorf("publicHTTPS(%q) accepted it, want it refused", u)
		}
	}
}
