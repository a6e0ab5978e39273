package meta

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/conversa/conversa/plugins/proto"
)

// Profile looks up the user's name, username and picture. It is best
// effort: every failure is reported in the response, never as a call error,
// with retryable saying whether asking again later can help.
//
// error_code is Meta's error code alone ("230", "190", "9010"), without the
// subcode, because that is what decides what to do next.
func (c *channel) Profile(ctx context.Context, req *proto.ProfileRequest) (*proto.ProfileResponse, error) {
	s, problems := graphSettings(req.GetIntegration().GetSettingsJson())
	if refusal := problems.Refusal(); refusal != nil {
		return &proto.ProfileResponse{ErrorCode: refusal.GetCode(), ErrorMessage: refusal.GetMessage()}, nil
	}
	id := strings.TrimSpace(req.GetContactId())
	if id == "" {
		return &proto.ProfileResponse{ErrorCode: "no_contact", ErrorMessage: "no contact id to look up"}, nil
	}
	if !plainID(id) {
		// The id goes into the path with the access token: anything but an
		// Instagram-scoped id ("..", "me", "123/accounts") would call
		// another endpoint of the Graph API, escaped or not.
		return &proto.ProfileResponse{ErrorCode: "bad_contact_id",
			ErrorMessage: "the contact id " + strconv.Quote(truncate(id, 64)) + " is not an Instagram user id (digits); not looked up"}, nil
	}
	q := url.Values{"fields": {"name,username,profile_pic"}}
	r := c.graph(ctx, s, http.MethodGet, id, q, nil)
	if r.err != nil {
		return &proto.ProfileResponse{ErrorCode: "network", ErrorMessage: truncate(r.err.Error(), 500), Retryable: true}, nil
	}
	ge, hasErr := parseGraphError(r.body)
	if r.status >= 200 && r.status < 300 && !hasErr {
		var p struct {
			Name       looseString `json:"name"`
			Username   looseString `json:"username"`
			ProfilePic looseString `json:"profile_pic"`
		}
		if err := json.Unmarshal(r.body, &p); err != nil {
			return &proto.ProfileResponse{ErrorCode: "bad_response", ErrorMessage: "profile: " + truncate(err.Error(), 200), Retryable: true}, nil
		}
		return &proto.ProfileResponse{
			Name:      strings.TrimSpace(string(p.Name)),
			Username:  strings.TrimSpace(string(p.Username)),
			AvatarUrl: string(p.ProfilePic),
		}, nil
	}
	if !hasErr {
		return &proto.ProfileResponse{
			ErrorCode:    "http_" + strconv.Itoa(r.status),
			ErrorMessage: "Meta answered " + strconv.Itoa(r.status) + " " + http.StatusText(r.status),
			Retryable:    r.status >= 500 || r.status == http.StatusTooManyRequests || r.status == http.StatusUnauthorized,
		}, nil
	}
	resp := &proto.ProfileResponse{
		ErrorCode:    strconv.FormatInt(int64(ge.Code), 10),
		ErrorMessage: truncate(ge.Message, 500),
	}
	switch {
	case ge.Code == 230:
		// No consent until the user has written: the next inbound message
		// makes the lookup work.
		resp.Retryable = true
	case ge.Code == 190:
		// The user is fine, the token is not: once the operator
		// re-authorizes, the lookup works again.
		resp.Retryable = true
	default:
		class := ge.class(r.status)
		resp.Retryable = class == classRateLimit || class == classTransient
	}
	return resp, nil
}

// plainID reports whether id is an Instagram-scoped user id as webhooks
// carry them: decimal digits only.
func plainID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}
