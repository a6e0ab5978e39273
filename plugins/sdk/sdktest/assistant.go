package sdktest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/conversa/conversa/plugins/proto"
)

func (r *runner) assistantCases() {
	r.run("assistant.describe", r.assistantDescribeCase)
	if r.fx.dir == "" || len(r.fx.converse) == 0 {
		r.record(Result{Name: "converse", Status: Skip, Reason: "no converse/*.json fixtures"})
	}
	var base *converseFixture
	var baseName string
	for _, ff := range r.fx.converse {
		r.run("converse/"+ff.name, func(c *tcase) {
			f := r.converseCase(c, ff)
			if base == nil && f != nil && len(f.Turns[0].Provider) > 0 {
				base, baseName = f, ff.name
			}
		})
	}
	if base == nil {
		r.record(Result{Name: "converse.deadline", Status: Skip, Reason: "no converse fixture has the assistant call the provider"})
		return
	}
	r.run("converse.deadline", func(c *tcase) {
		req, err := r.converseRequest(base, baseName, 0, nil)
		if err != nil {
			c.errorf("fixture converse/%s: %v", baseName, err)
			return
		}
		r.prov.hangAll()
		begin := time.Now()
		ctx, cancel := r.callCtx(hangDeadline)
		defer cancel()
		_, err = r.assistant.Converse(ctx, req)
		r.sawErr("the error of converse.deadline", err)
		r.checkHang(c, begin, false)
	})
}

func (r *runner) assistantDescribeCase(c *tcase) {
	ctx, cancel := r.callCtx(callTimeout)
	defer cancel()
	ai, err := r.assistant.Describe(ctx, &proto.DescribeRequest{})
	if err != nil {
		c.errorf("Assistant.Describe: %s", grpcText(err))
		return
	}
	if ai.GetName() != r.info.GetName() {
		c.errorf("name %q, but Info.Describe says %q", ai.GetName(), r.info.GetName())
	}
	for _, t := range ai.GetInboundTypes() {
		if !knownContentTypes[t] {
			c.errorf("inbound_types: unknown content type %q", t)
		}
	}
}

// converseRequest is turn i of a conversation fixture.
func (r *runner) converseRequest(f *converseFixture, name string, i int, session []byte) (*proto.ConverseRequest, error) {
	settings, err := r.fx.settingsJSON(r.vars())
	if err != nil {
		return nil, err
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(f.Turns[i].Contents, &raw); err != nil {
		return nil, fmt.Errorf("turns[%d].contents: want a list: %w", i, err)
	}
	var contents []*proto.Content
	for j, b := range raw {
		ct := &proto.Content{}
		if err := protojson.Unmarshal(b, ct); err != nil {
			return nil, fmt.Errorf("turns[%d].contents[%d]: %w", i, j, err)
		}
		contents = append(contents, ct)
	}
	channel := f.Channel
	if channel == "" {
		channel = "contract"
	}
	return &proto.ConverseRequest{
		SettingsJson:   settings,
		AssistantId:    "contract",
		IntegrationId:  integrationID,
		ConversationId: "contract-" + name,
		Contact: &proto.Contact{
			Id: "contract-user", Username: "contract.user", Name: "Contract User",
			LastInboundMs: time.Now().UnixMilli(),
		},
		Session:  session,
		Contents: contents,
		Channel:  channel,
	}, nil
}

// converseCase plays a conversation, carrying the session the assistant
// returns from one turn to the next. It returns the fixture, parsed.
func (r *runner) converseCase(c *tcase, ff fixtureFile) *converseFixture {
	doc, err := r.vars().render(ff.raw)
	var f *converseFixture
	if err == nil {
		f, err = parseConverse(doc)
	}
	if err != nil {
		c.errorf("fixture %s: %v", ff.path, err)
		return nil
	}
	var session []byte
	for i, turn := range f.Turns {
		req, err := r.converseRequest(f, ff.name, i, session)
		if err != nil {
			c.errorf("fixture %s: %v", ff.path, err)
			return nil
		}
		r.prov.script(turn.Provider)
		ctx, cancel := r.callCtx(callTimeout)
		resp, err := r.assistant.Converse(ctx, req)
		cancel()
		where := fmt.Sprintf("converse/%s turn %d", ff.name, i+1)
		r.sawErr("the error of "+where, err)
		calls := r.prov.recorded()
		if w := turn.Want.ProviderCalls; w != nil && len(calls) != *w {
			c.errorf("turn %d: the provider got %d call(s), want %d", i+1, len(calls), *w)
		}
		for _, p := range turn.Want.ProviderRequest.check(calls) {
			c.errorf("turn %d: %s", i+1, p)
		}
		if turn.Want.Error {
			if err == nil {
				c.errorf("turn %d: Converse answered %d replies, want a gRPC error", i+1, len(resp.GetReplies()))
			}
			return f
		}
		if err != nil {
			c.errorf("turn %d: Converse: %s", i+1, grpcText(err))
			return f
		}
		for _, p := range checkTurn(resp, turn.Want) {
			c.errorf("turn %d: %s", i+1, p)
		}
		session = resp.GetSession()
	}
	return f
}

func checkTurn(resp *proto.ConverseResponse, w converseWant) []string {
	var bad []string
	if w.RepliesMin != nil && len(resp.GetReplies()) < *w.RepliesMin {
		bad = append(bad, fmt.Sprintf("%d replies, want at least %d", len(resp.GetReplies()), *w.RepliesMin))
	}
	if w.Handoff != nil && resp.GetHandoff() != *w.Handoff {
		bad = append(bad, fmt.Sprintf("handoff = %v, want %v", resp.GetHandoff(), *w.Handoff))
	}
	if w.End != nil && resp.GetEnd() != *w.End {
		bad = append(bad, fmt.Sprintf("end = %v, want %v", resp.GetEnd(), *w.End))
	}
	if w.Intent != nil && resp.GetIntent() != *w.Intent {
		bad = append(bad, fmt.Sprintf("intent = %q, want %q", resp.GetIntent(), *w.Intent))
	}
	if w.Squad != nil && resp.GetSquad() != *w.Squad {
		bad = append(bad, fmt.Sprintf("squad = %q, want %q", resp.GetSquad(), *w.Squad))
	}
	var texts []string
	for i, rep := range resp.GetReplies() {
		if !knownContentTypes[rep.GetType()] {
			bad = append(bad, fmt.Sprintf("replies[%d]: unknown content type %q", i, rep.GetType()))
		}
		texts = append(texts, rep.GetText())
	}
	if w.ReplyTextContains != nil && !strings.Contains(strings.Join(texts, "\n"), *w.ReplyTextContains) {
		bad = append(bad, fmt.Sprintf("no reply text contains %s (got %s)", quoteShort(*w.ReplyTextContains), quoteShort(strings.Join(texts, " | "))))
	}
	return bad
}
