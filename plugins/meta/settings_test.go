package meta

import (
	"testing"
)

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    settings
		wantErr bool
	}{
		{name: "defaults", in: `{}`, want: settings{Login: LoginInstagram, GraphURL: DefaultInstagramGraphURL, APIVersion: DefaultAPIVersion}},
		{name: "empty", in: ``, want: settings{Login: LoginInstagram, GraphURL: DefaultInstagramGraphURL, APIVersion: DefaultAPIVersion}},
		{name: "facebook defaults", in: `{"login":"Facebook"}`, want: settings{Login: LoginFacebook, GraphURL: DefaultFacebookGraphURL, APIVersion: DefaultAPIVersion}},
		{name: "everything", in: `{"account_id":"178","login":"instagram","access_token":" tok ","app_secret":"sec","verify_token":"vt",
			"graph_url":"http://127.0.0.1:9/","api_version":"v26.0","human_agent_tag":true,"unknown":{"x":1}}`,
			want: settings{AccountID: "178", Login: LoginInstagram, AccessToken: "tok", AppSecret: "sec", VerifyToken: "vt",
				GraphURL: "http://127.0.0.1:9", APIVersion: "v26.0", HumanAgentTag: true}},
		{name: "numbers and strings", in: `{"account_id":17841400000000001,"human_agent_tag":"true","api_version":"25.0"}`,
			want: settings{AccountID: "17841400000000001", Login: LoginInstagram, GraphURL: DefaultInstagramGraphURL, APIVersion: "v25.0", HumanAgentTag: true}},
		{name: "tag off as a string", in: `{"human_agent_tag":"false"}`,
			want: settings{Login: LoginInstagram, GraphURL: DefaultInstagramGraphURL, APIVersion: DefaultAPIVersion}},
		{name: "unknown login", in: `{"login":"whatsapp"}`, wantErr: true},
		{name: "not an object", in: `[1]`, wantErr: true},
		{name: "null", in: `null`, wantErr: true},
		{name: "not JSON", in: `{`, wantErr: true},
	}
	for _, tc := range tests {
		got, problems := parseSettings([]byte(tc.in))
		if (len(problems) > 0) != tc.wantErr {
			t.Errorf("parseSettings(%s) problems = %v, want problems %v", tc.name, problems, tc.wantErr)
			continue
		}
		if !tc.wantErr && got != tc.want {
			t.Errorf("parseSettings(%s) = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestLooseTypes(t *testing.T) {
	var s looseString
	for in, want := range map[string]string{`"a"`: "a", `12`: "12", `true`: "true", `null`: "", `"\u00e9"`: "é"} {
		if err := s.UnmarshalJSON([]byte(in)); err != nil || string(s) != want {
			t.Errorf("looseString(%s) = %q, %v; want %q", in, s, err, want)
		}
	}
	for _, in := range []string{`{}`, `[]`} {
		if err := s.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("looseString(%s) accepted", in)
		}
	}
	var n looseInt
	for in, want := range map[string]int64{`12`: 12, `"1527459824"`: 1527459824, `1.7e12`: 1700000000000, `null`: 0, `""`: 0} {
		if err := n.UnmarshalJSON([]byte(in)); err != nil || int64(n) != want {
			t.Errorf("looseInt(%s) = %d, %v; want %d", in, n, err, want)
		}
	}
	for _, in := range []string{`"abc"`, `true`, `{}`, `1e300`} {
		if err := n.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("looseInt(%s) accepted", in)
		}
	}
	var b looseBool
	for in, want := range map[string]bool{`true`: true, `false`: false, `"true"`: true, `"TRUE"`: true, `"false"`: false, `"yes"`: false, `1`: true, `0`: false, `null`: false} {
		if err := b.UnmarshalJSON([]byte(in)); err != nil || bool(b) != want {
			t.Errorf("looseBool(%s) = %v, %v; want %v", in, b, err, want)
		}
	}
	if err := b.UnmarshalJSON([]byte(`{}`)); err == nil {
		t.Errorf("looseBool({}) accepted")
	}
}
