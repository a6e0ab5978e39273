package meta

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/conversa/conversa/plugins/proto"
)

func TestProfile(t *testing.T) {
	tests := []struct {
		name      string
		login     string
		rep       reply
		want      *proto.ProfileResponse
		wantError bool
	}{
		{name: "resp-04", rep: reply{status: 200, body: "send/resp-04-user-profile.json"}, want: &proto.ProfileResponse{
			Name: "Ana Souza", Username: "ana.souza.style",
			AvatarUrl: "https://scontent.cdninstagram.com/v/t51.2885-19/example_profile.jpg?stp=dst-jpg_s206x206&oe=696A1B2C"}},
		{name: "resp-04, Facebook login", login: LoginFacebook, rep: reply{status: 200, body: "send/resp-04-user-profile.json"}, want: &proto.ProfileResponse{
			Name: "Ana Souza", Username: "ana.souza.style",
			AvatarUrl: "https://scontent.cdninstagram.com/v/t51.2885-19/example_profile.jpg?stp=dst-jpg_s206x206&oe=696A1B2C"}},
		{name: "resp-05 null name", rep: reply{status: 200, body: "send/resp-05-user-profile-name-null.json"},
			want: &proto.ProfileResponse{Username: "kx_92831"}},
		{name: "err-11 consent", rep: reply{status: 400, body: "send/err-11-profile-consent-230.json"},
			want: &proto.ProfileResponse{ErrorCode: "230", Retryable: true}, wantError: true},
		{name: "err-12 no user", rep: reply{status: 400, body: "send/err-12-ig-login-no-matching-user-9010.json"},
			want: &proto.ProfileResponse{ErrorCode: "9010"}, wantError: true},
		{name: "err-08 no user", rep: reply{status: 400, body: "send/err-08-no-matching-user-100-2534014.json"},
			want: &proto.ProfileResponse{ErrorCode: "100"}, wantError: true},
		{name: "err-04 token", rep: reply{status: 400, body: "send/err-04-token-expired-190.json"},
			want: &proto.ProfileResponse{ErrorCode: "190", Retryable: true}, wantError: true},
		{name: "err-05 rate limit", rep: reply{status: 400, body: "send/err-05-rate-limit-613.json"},
			want: &proto.ProfileResponse{ErrorCode: "613", Retryable: true}, wantError: true},
		{name: "5xx", rep: reply{status: 503, body: "unavailable"},
			want: &proto.ProfileResponse{ErrorCode: "http_503", Retryable: true}, wantError: true},
		{name: "not JSON", rep: reply{status: 200, body: "<html>"},
			want: &proto.ProfileResponse{ErrorCode: "bad_response", Retryable: true}, wantError: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := tc.rep
			if strings.HasPrefix(rep.body, "send/") {
				rep.body = string(readFixture(t, rep.body))
			}
			g := newFakeGraph(t, rep)
			login := tc.login
			if login == "" {
				login = LoginInstagram
			}
			resp, err := New().Profile(context.Background(), &proto.ProfileRequest{
				Integration: metaSettings(g.srv.URL, map[string]any{"login": login}), ContactId: customerA,
			})
			if err != nil {
				t.Fatalf("Profile: %v", err)
			}
			if tc.wantError && resp.GetErrorMessage() == "" {
				t.Errorf("error_message empty, want Meta's reason")
			}
			got := &proto.ProfileResponse{Name: resp.GetName(), Username: resp.GetUsername(), AvatarUrl: resp.GetAvatarUrl(),
				ErrorCode: resp.GetErrorCode(), Retryable: resp.GetRetryable()}
			if got.String() != tc.want.String() {
				t.Errorf("Profile = %v, want %v", got, tc.want)
			}
			reqs := g.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.method != http.MethodGet || r.path != "/v25.0/"+customerA || r.query.Get("fields") != "name,username,profile_pic" {
				t.Errorf("request = %s %s?%s, want GET /v25.0/%s?fields=name,username,profile_pic", r.method, r.path, r.query.Encode(), customerA)
			}
			checkAuth(t, r, login)
		})
	}
}

// A contact id is looked up only when it is an Instagram user id: any other
// text would reach another Graph API endpoint with the token (".." is the
// root, "me" the account itself), escaped or not.
func TestProfileOnlyLooksUpInstagramIDs(t *testing.T) {
	for _, id := range []string{"..", ".", "me", "../me/accounts?x=1", "123/accounts", "123%2F..", "12a", "１２３",
		strings.Repeat("1", 33)} {
		g := newFakeGraph(t, reply{status: 200, body: `{"username":"x"}`})
		resp, err := New().Profile(context.Background(), &proto.ProfileRequest{
			Integration: metaSettings(g.srv.URL, nil), ContactId: id,
		})
		if err != nil {
			t.Fatalf("Profile(%q): %v", id, err)
		}
		if resp.GetErrorCode() != "bad_contact_id" || resp.GetRetryable() || resp.GetUsername() != "" {
			t.Errorf("Profile(%q) = %v, want a bad_contact_id error, not retryable", id, resp)
		}
		if reqs := g.requests(); len(reqs) != 0 {
			t.Errorf("Profile(%q) called the Graph API: %+v", id, reqs)
		}
	}
}

func TestProfileNetworkError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	resp, err := New().Profile(context.Background(), &proto.ProfileRequest{
		Integration: metaSettings("http://"+addr, nil), ContactId: customerA,
	})
	if err != nil {
		t.Fatalf("Profile: %v", err)
	}
	if resp.GetErrorCode() != "network" || !resp.GetRetryable() {
		t.Errorf("Profile = %v, want a retryable network error", resp)
	}
}

func TestProfileWithoutSettings(t *testing.T) {
	resp, err := New().Profile(context.Background(), &proto.ProfileRequest{
		Integration: &proto.Integration{Id: "ig", SettingsJson: []byte(`{"app_secret":"x"}`)}, ContactId: customerA,
	})
	if err != nil {
		t.Fatalf("Profile: %v", err)
	}
	if resp.GetErrorCode() != "settings" || resp.GetRetryable() {
		t.Errorf("Profile = %v, want a settings error", resp)
	}
}
