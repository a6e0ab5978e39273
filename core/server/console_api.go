package server

import (
	"slices"
	"sort"

	"github.com/conversa/conversa/core/pluginhost"
	"github.com/gofiber/fiber/v2"
)

// The console's integration form needs to know what it may offer: the
// configured assistants, and each channel plugin with the settings it takes
// (so that a third-party channel gets a usable form too).

func (s *Server) listAssistants(c *fiber.Ctx) error {
	ids := s.o.Engine.AssistantIDs()
	sort.Strings(ids)
	return c.JSON(fiber.Map{"assistants": ids})
}

// channelJSON is what the console knows of a channel plugin.
type channelJSON struct {
	Name              string            `json:"name"`
	Version           string            `json:"version"`
	Available         bool              `json:"available"`
	RequiredSettings  []string          `json:"required_settings"`
	SecretSettings    []string          `json:"secret_settings"`
	GeneratedSettings []string          `json:"generated_settings"`
	WebhookHeaders    map[string]string `json:"webhook_headers"`
	WebhookFields     map[string]string `json:"webhook_fields"`
	InboundTypes      []string          `json:"inbound_types"`
	OutboundTypes     []string          `json:"outbound_types"`
	// Settings is the form the channel publishes for its settings, in
	// order; empty when it publishes none (the console then draws its own).
	Settings []pluginhost.SettingField `json:"settings"`
}

func (s *Server) listChannels(c *fiber.Ctx) error {
	out := []channelJSON{}
	for _, p := range s.o.Plugins.Statuses() {
		// A plugin that has not run yet has not said what it is: asking it
		// starts it, as its first use would.
		known := p.Kind != "" || len(p.Kinds) > 0
		if known && p.Kind != "channel" && !slices.Contains(p.Kinds, "channel") {
			continue
		}
		ch := channelJSON{Name: p.Name, Version: p.Version, RequiredSettings: []string{}, SecretSettings: []string{},
			GeneratedSettings: []string{}, WebhookHeaders: map[string]string{}, WebhookFields: map[string]string{},
			InboundTypes: []string{}, OutboundTypes: []string{}, Settings: []pluginhost.SettingField{}}
		// A plugin that cannot describe itself now (crashed, restarting)
		// is still listed: the operator sees it exists but is unavailable.
		info, err := s.o.Engine.ChannelInfo(c.UserContext(), p.Name)
		if err != nil && !known {
			continue
		}
		if err == nil {
			ch.Available = true
			ch.Version = info.Version
			ch.RequiredSettings = append(ch.RequiredSettings, info.RequiredSettings...)
			ch.SecretSettings = append(ch.SecretSettings, info.SecretSettings...)
			ch.GeneratedSettings = append(ch.GeneratedSettings, info.GeneratedSettings...)
			for k, v := range info.WebhookHeaders {
				ch.WebhookHeaders[k] = v
			}
			for k, v := range info.WebhookFields {
				ch.WebhookFields[k] = v
			}
			ch.InboundTypes = append(ch.InboundTypes, info.InboundTypes...)
			ch.OutboundTypes = append(ch.OutboundTypes, info.OutboundTypes...)
			ch.Settings = append(ch.Settings, info.Settings...)
		}
		out = append(out, ch)
	}
	return c.JSON(fiber.Map{"channels": out})
}
