package rules

import (
	"context"
	_ "embed"
	"encoding/json"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	gproto "google.golang.org/protobuf/proto"

	"github.com/conversa/conversa/plugins/proto"
	"github.com/conversa/conversa/plugins/sdk"
)

// Name and Version are what the plugin reports about itself.
const (
	Name    = "rules"
	Version = "1.0.0"
)

// fallbackIntent is the intent reported when nothing matched.
const fallbackIntent = "fallback"

//go:embed demo.toml
var demoTOML []byte

// Rules is the rules assistant.
type Rules struct {
	files *files
	// The embedded demo, parsed once; demoErr can only be set by a broken
	// build, and the tests parse the demo.
	demo    *assistant
	demoErr error
}

// New returns the rules assistant.
func New() sdk.Assistant {
	r := &Rules{files: &files{}}
	r.demo, r.demoErr = parse(demoTOML, "demo.toml")
	return r
}

// Describe reports no inbound types: the assistant takes whatever the
// channel serves and answers what it cannot read with the fallback.
func (r *Rules) Describe(context.Context) (*proto.AssistantInfo, error) {
	return &proto.AssistantInfo{Name: Name, Version: Version}, nil
}

// Converse answers one user turn.
func (r *Rules) Converse(_ context.Context, req *proto.ConverseRequest) (*proto.ConverseResponse, error) {
	a, err := r.assistant(req.GetSettingsJson())
	if err != nil {
		return nil, err
	}
	offered := decodeSession(req.GetSession())

	in, confidence := a.understand(offered, req.GetContents())
	if in == nil {
		// The fallback offers nothing new, so the options offered before
		// still stand: a user who mistyped may answer with the number again.
		return &proto.ConverseResponse{
			Replies: cloneContents(a.fallback),
			Session: req.GetSession(),
			Intent:  fallbackIntent,
		}, nil
	}
	replies := cloneContents(in.replies)
	return &proto.ConverseResponse{
		Replies:    replies,
		Session:    encodeSession(replies),
		Intent:     in.name,
		Confidence: confidence,
		Handoff:    in.handoff,
		End:        in.end,
	}, nil
}

func (r *Rules) assistant(settingsJSON []byte) (*assistant, error) {
	s, err := parseSettings(settingsJSON)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "rules: %v", err)
	}
	if s.File == "" {
		if r.demoErr != nil {
			return nil, status.Errorf(codes.Internal, "rules: %v", r.demoErr)
		}
		return r.demo, nil
	}
	a, err := r.files.load(s.File)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "rules: %v", err)
	}
	return a, nil
}

// understand finds the intent the user meant. A tapped quick reply's
// payload is the surest signal, so payloads go first, then what the user
// wrote (text, or a media caption). Each one is first read as an answer to
// the options offered last (their number or title), then matched against
// the examples. Contents with neither (audio, video...) leave nothing to
// match, which ends in the fallback.
func (a *assistant) understand(offered []option, contents []*proto.Content) (*intent, float64) {
	var said []string
	for _, c := range contents {
		if c.GetPayload() != "" {
			said = append(said, c.GetPayload())
		}
	}
	for _, c := range contents {
		for _, t := range []string{c.GetText(), c.GetCaption()} {
			if t != "" {
				said = append(said, t)
			}
		}
	}
	for _, s := range said {
		if o, ok := pick(offered, s); ok {
			if in, score := a.match(o.Payload); in != nil {
				return in, score
			}
		}
		if in, score := a.match(s); in != nil {
			return in, score
		}
	}
	return nil, 0
}

// session is the state kept between turns: the options the last reply
// offered, so that "2" or a title can be read as one of them.
type session struct {
	Options []option `json:"options,omitempty"`
}

// decodeSession reads the options offered last. A session this assistant
// did not write (another backend's, after the integration switched
// assistants) is read as empty rather than failing the turn.
func decodeSession(b []byte) []option {
	var s session
	if len(b) == 0 || json.Unmarshal(b, &s) != nil {
		return nil
	}
	return s.Options
}

// encodeSession remembers the options of the last reply that offered any:
// it is the one the user sees last and answers.
func encodeSession(replies []*proto.Content) []byte {
	var s session
	for _, c := range replies {
		switch c.GetType() {
		case sdk.ContentQuickReplies, sdk.ContentSelect, sdk.ContentOptionList:
			s.Options = s.Options[:0]
			for _, o := range c.GetOptions() {
				s.Options = append(s.Options, option{Title: o.GetTitle(), Payload: o.GetPayload()})
			}
		}
	}
	if len(s.Options) == 0 {
		return nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		// Strings only: Marshal cannot fail.
		return nil
	}
	return b
}

// cloneContents copies the compiled replies, which are shared by every call.
func cloneContents(cs []*proto.Content) []*proto.Content {
	out := make([]*proto.Content, len(cs))
	for i, c := range cs {
		out[i] = gproto.Clone(c).(*proto.Content)
	}
	return out
}
