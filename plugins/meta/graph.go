package meta

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxResponseBytes bounds what is read of a Graph API answer; real ones are
// a few hundred bytes.
const maxResponseBytes = 1 << 20

// graphResult is one Graph API exchange: either a transport error, or the
// status, headers and (bounded) body of the answer.
type graphResult struct {
	status int
	header http.Header
	body   []byte
	err    error
	// The request may have reached Meta (the error came after the
	// connection was made).
	maybeDelivered bool
}

// graphURL is {graph_url}/{api_version}/{path}, with the token in the query
// for Facebook login: that variant authenticates by access_token and, since
// apps may require it, appsecret_proof.
func (s settings) graphURL(path string, query url.Values) string {
	if query == nil {
		query = url.Values{}
	}
	if s.Login == LoginFacebook {
		query.Set("access_token", s.AccessToken)
		if s.AppSecret != "" {
			query.Set("appsecret_proof", appSecretProof(s.AppSecret, s.AccessToken))
		}
	}
	u := s.GraphURL + "/" + s.APIVersion + "/" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u
}

func appSecretProof(secret, token string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

func (c *channel) graph(ctx context.Context, s settings, method, path string, query url.Values, body []byte) graphResult {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.graphURL(path, query), rd)
	if err != nil {
		return graphResult{err: fmt.Errorf("graph request: %w", err)}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if s.Login == LoginInstagram {
		req.Header.Set("Authorization", "Bearer "+s.AccessToken)
	}
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		return graphResult{err: scrubURL(err), maybeDelivered: !neverSent(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return graphResult{err: fmt.Errorf("graph response: %w", scrubURL(err)), maybeDelivered: true}
	}
	return graphResult{status: resp.StatusCode, header: resp.Header, body: data}
}

// neverSent reports whether a transport error happened before the request
// could have left: a failed dial or name lookup.
func neverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// scrubURL drops the request URL from a transport error: with Facebook
// login it carries the access token.
func scrubURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// graphError is the error object of a Graph API answer.
type graphError struct {
	Message     string    `json:"message"`
	Type        string    `json:"type"`
	Code        looseInt  `json:"code"`
	Subcode     looseInt  `json:"error_subcode"`
	IsTransient looseBool `json:"is_transient"`
}

// parseGraphError finds {"error":{...}} in a body, if there is one.
func parseGraphError(body []byte) (graphError, bool) {
	var env struct {
		Error *graphError `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		return graphError{}, false
	}
	if env.Error.Code == 0 && env.Error.Message == "" {
		return graphError{}, false
	}
	return *env.Error, true
}

// codeString is "<code>" or "<code>/<subcode>".
func (e graphError) codeString() string {
	s := strconv.FormatInt(int64(e.Code), 10)
	if e.Subcode != 0 {
		s += "/" + strconv.FormatInt(int64(e.Subcode), 10)
	}
	return s
}

// Error classes, from reference SPEC §6.4.
type errorClass int

const (
	// Retrying cannot help: fix the request, the configuration or wait for
	// the user.
	classPermanent errorClass = iota
	// The token no longer works.
	classReauthorize
	// Rate limited: retry after a pause.
	classRateLimit
	// Temporary on Meta's side.
	classTransient
	// The message went out although the call failed.
	classSent
)

func (e graphError) class(httpStatus int) errorClass {
	switch e.Code {
	case 190:
		return classReauthorize
	case 4, 17, 32, 613, 80002:
		return classRateLimit
	case 2:
		return classTransient
	case 1:
		if e.Subcode == 1357046 {
			return classSent
		}
	case 3, 10, 100, 200, 230, 368, 551, 9010, 1609005:
		return classPermanent
	}
	// Codes not known to be permanent: trust Meta's own flag, and a 5xx.
	if e.IsTransient || httpStatus >= 500 {
		return classTransient
	}
	return classPermanent
}

// Pauses suggested when Meta names none. The host backs off further on
// repeated failures; these are the first step.
const (
	rateLimitPause = time.Minute
	transientPause = 5 * time.Second
	maxPause       = 24 * time.Hour
)

// retryAfter reads how long Meta asks to wait: Retry-After (seconds or an
// HTTP date), else the longest estimated_time_to_regain_access (minutes) of
// X-Business-Use-Case-Usage, else def.
func retryAfter(h http.Header, now time.Time, def time.Duration) time.Duration {
	d := def
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
			d = time.Duration(min(secs, int64(maxPause/time.Second))) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			d = t.Sub(now)
		}
	} else if v := h.Get("X-Business-Use-Case-Usage"); v != "" {
		var usage map[string][]struct {
			Minutes looseInt `json:"estimated_time_to_regain_access"`
		}
		if json.Unmarshal([]byte(v), &usage) == nil {
			longest := time.Duration(0)
			for _, list := range usage {
				for _, u := range list {
					if m := time.Duration(min(int64(u.Minutes), int64(maxPause/time.Minute))) * time.Minute; m > longest {
						longest = m
					}
				}
			}
			if longest > 0 {
				d = longest
			}
		}
	}
	if d < 0 {
		d = 0
	}
	if d > maxPause {
		d = maxPause
	}
	return d
}
