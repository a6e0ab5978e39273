package server

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/conversa/conversa/core/config"
	"github.com/conversa/conversa/core/engine"
	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// integrationJSON is an integration as the API shows it (CONTRACT §5): the
// fields of a config file [[integrations]] table, plus enabled, source and
// the webhook the source delivers to. Secrets are masked.
type integrationJSON struct {
	ID                       string         `json:"id"`
	Name                     string         `json:"name"`
	Channel                  string         `json:"channel"`
	Assistant                string         `json:"assistant"`
	Squad                    string         `json:"squad"`
	InactivityMinutes        int            `json:"inactivity_minutes"`
	UnsupportedMediaMessages []string       `json:"unsupported_media_messages"`
	HomologationUsers        []string       `json:"homologation_users"`
	Settings                 map[string]any `json:"settings"`
	Enabled                  bool           `json:"enabled"`
	Source                   string         `json:"source"`
	Webhook                  engine.Webhook `json:"webhook"`
	NeedsReauthorization     string         `json:"needs_reauthorization,omitempty"`
	// Playground marks the test phone's built-in integrations.
	Playground bool `json:"playground,omitempty"`
	// Available is false while the channel plugin cannot run (or the
	// integration lacks what the channel requires); the reason says why.
	Available         bool      `json:"available"`
	UnavailableReason string    `json:"unavailable_reason,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// integrationInput is what POST and PUT accept; absent fields take their
// defaults (PUT replaces the whole integration), except secrets, which keep
// their stored value when absent or sent back masked.
type integrationInput struct {
	ID                       string         `json:"id"`
	Name                     string         `json:"name"`
	Channel                  string         `json:"channel"`
	Assistant                string         `json:"assistant"`
	Squad                    string         `json:"squad"`
	InactivityMinutes        *int           `json:"inactivity_minutes"`
	UnsupportedMediaMessages []string       `json:"unsupported_media_messages"`
	HomologationUsers        []string       `json:"homologation_users"`
	Settings                 map[string]any `json:"settings"`
	Enabled                  *bool          `json:"enabled"`
}

func (s *Server) integrationView(c *fiber.Ctx, in *model.Integration) integrationJSON {
	ctx := c.UserContext()
	available, why := s.o.Engine.Availability(in)
	builtIn, _ := s.builtIn(in)
	return integrationJSON{Playground: builtIn,
		Available: available, UnavailableReason: why,
		ID: in.ID, Name: in.Name, Channel: in.Channel, Assistant: in.Assistant, Squad: in.Squad,
		InactivityMinutes: in.InactivityMinutes, UnsupportedMediaMessages: nonNil(in.UnsupportedMediaMessages),
		HomologationUsers: nonNil(in.HomologationUsers), Settings: s.o.Engine.MaskedSettings(ctx, in),
		Enabled: in.Enabled, Source: in.Source, Webhook: s.o.Engine.WebhookOf(ctx, in),
		NeedsReauthorization: in.NeedsReauth, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) listIntegrations(c *fiber.Ctx) error {
	out := []integrationJSON{}
	for _, in := range s.o.Engine.Integrations() {
		if _, hidden := s.builtIn(in); !hidden {
			out = append(out, s.integrationView(c, in))
		}
	}
	return c.JSON(fiber.Map{"integrations": out})
}

func (s *Server) getIntegration(c *fiber.Ctx) error {
	in := s.o.Engine.Integration(c.Params("id"))
	if _, hidden := s.builtIn(in); in == nil || hidden {
		return errorf(fiber.StatusNotFound, "not_found", "no such integration")
	}
	return c.JSON(s.integrationView(c, in))
}

func (s *Server) decodeIntegration(c *fiber.Ctx) (*model.Integration, error) {
	var req integrationInput
	const shape = `a JSON integration {"id", "name", "channel", "assistant", "squad", "inactivity_minutes", ` +
		`"unsupported_media_messages", "homologation_users", "settings", "enabled"}`
	if err := decodeJSON(c, &req, bodyRules{shape: shape, strict: true}); err != nil {
		return nil, err
	}
	in := &model.Integration{ID: req.ID, Name: req.Name, Channel: req.Channel, Assistant: req.Assistant, Squad: req.Squad,
		InactivityMinutes: 60, UnsupportedMediaMessages: req.UnsupportedMediaMessages,
		HomologationUsers: req.HomologationUsers, Settings: req.Settings, Enabled: true, Source: model.SourceAPI}
	if req.InactivityMinutes != nil {
		in.InactivityMinutes = *req.InactivityMinutes
	}
	if req.Enabled != nil {
		in.Enabled = *req.Enabled
	}
	// Absent (or null): the default reply, as in the configuration file;
	// an empty list: no reply.
	if in.UnsupportedMediaMessages == nil {
		in.UnsupportedMediaMessages = config.DefaultUnsupportedMediaMessages()
	}
	if in.Settings == nil {
		in.Settings = map[string]any{}
	}
	return in, nil
}

func (s *Server) validationError(err error) error {
	var ve engine.ValidationErrors
	if errors.As(err, &ve) && len(ve) > 0 {
		fields := map[string]string{}
		problems := make([]fieldProblem, 0, len(ve))
		for _, fe := range ve {
			if prev, ok := fields[fe.Field]; ok {
				fields[fe.Field] = prev + "; " + fe.Message
			} else {
				fields[fe.Field] = fe.Message
			}
			problems = append(problems, fieldProblem{Field: fe.Field, Message: fe.Message})
		}
		return &validationError{apiError: apiError{Status: fiber.StatusBadRequest, Code: "invalid", Message: ve.Error(),
			Field: ve[0].Field}, Fields: fields, Problems: problems}
	}
	return err
}

// validationError adds every field's problem to the error body: fields by
// name (one message per field), and problems in the order found (a
// channel's own checks of its settings may name a field twice). A field is
// the request's JSON path: "name", "settings.api_url", "settings" for the
// settings as a whole.
type validationError struct {
	apiError
	Fields   map[string]string `json:"fields"`
	Problems []fieldProblem    `json:"problems"`
}

type fieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (s *Server) createIntegration(c *fiber.Ctx) error {
	in, err := s.decodeIntegration(c)
	if err != nil {
		return err
	}
	if err := s.o.Engine.Validate(c.UserContext(), in); err != nil {
		return s.validationError(err)
	}
	if s.o.Engine.Integration(in.ID) != nil {
		return &apiError{Status: fiber.StatusConflict, Code: "conflict", Field: "id", Message: "an integration " + in.ID + " already exists"}
	}
	if err := s.o.Engine.PutBy(c.UserContext(), in, false, s.actor(c)); err != nil {
		return err
	}
	s.log.Info("integration created", "integration", in.ID, "by", s.caller(c).agent.ID)
	return c.Status(fiber.StatusCreated).JSON(s.integrationView(c, s.o.Engine.Integration(in.ID)))
}

func (s *Server) updateIntegration(c *fiber.Ctx) error {
	id := c.Params("id")
	old := s.o.Engine.Integration(id)
	builtIn, hidden := s.builtIn(old)
	switch {
	case old == nil || hidden:
		return errorf(fiber.StatusNotFound, "not_found", "no such integration")
	case builtIn:
		return errBuiltIn(id)
	case old.Source == model.SourceConfig:
		return errorf(fiber.StatusConflict, "from_config", "this integration comes from the configuration file; change it there")
	}
	in, err := s.decodeIntegration(c)
	if err != nil {
		return err
	}
	if in.ID == "" {
		in.ID = id
	}
	if in.ID != id {
		return &apiError{Status: fiber.StatusBadRequest, Code: "invalid", Field: "id", Message: "the id cannot change"}
	}
	if err := s.o.Engine.Validate(c.UserContext(), in); err != nil {
		return s.validationError(err)
	}
	if err := s.o.Engine.PutBy(c.UserContext(), in, true, s.actor(c)); err != nil {
		return err
	}
	s.log.Info("integration updated", "integration", in.ID, "by", s.caller(c).agent.ID, "enabled", in.Enabled)
	return c.JSON(s.integrationView(c, s.o.Engine.Integration(in.ID)))
}

func (s *Server) deleteIntegration(c *fiber.Ctx) error {
	id := c.Params("id")
	old := s.o.Engine.Integration(id)
	builtIn, hidden := s.builtIn(old)
	switch {
	case old == nil || hidden:
		return errorf(fiber.StatusNotFound, "not_found", "no such integration")
	case builtIn:
		return errBuiltIn(id)
	case old.Source == model.SourceConfig:
		return errorf(fiber.StatusConflict, "from_config", "this integration comes from the configuration file; remove it there")
	}
	if err := s.o.Engine.DeleteBy(c.UserContext(), id, s.actor(c)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.metrics.Forget(id)
	s.log.Info("integration deleted", "integration", id, "by", s.caller(c).agent.ID)
	return c.SendStatus(fiber.StatusNoContent)
}
