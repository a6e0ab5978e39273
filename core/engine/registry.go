package engine

import (
	"sort"
	"sync"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/pluginhost"
)

// registry is the engine's in-memory view of integrations and assistants.
type registry struct {
	mu           sync.RWMutex
	integrations map[string]*model.Integration
	// plugin is each integration as its channel plugin receives it (the
	// settings encoded once per reload, not once per webhook or send).
	plugin     map[string]*pluginhost.Integration
	assistants map[string]Assistant
}

func newRegistry(assistants []Assistant) *registry {
	r := &registry{integrations: map[string]*model.Integration{}, assistants: map[string]Assistant{}}
	for _, a := range assistants {
		a.settingsJSON = mustJSON(a.Settings)
		r.assistants[a.ID] = a
	}
	return r
}

func (r *registry) setIntegrations(ins []*model.Integration) {
	m := make(map[string]*model.Integration, len(ins))
	p := make(map[string]*pluginhost.Integration, len(ins))
	for _, in := range ins {
		m[in.ID] = in
		p[in.ID] = &pluginhost.Integration{ID: in.ID, SettingsJSON: settingsJSON(in)}
	}
	r.mu.Lock()
	r.integrations, r.plugin = m, p
	r.mu.Unlock()
}

// forPlugin is an integration as its channel plugin receives it.
func (r *registry) forPlugin(in *model.Integration) *pluginhost.Integration {
	r.mu.RLock()
	cur, p := r.integrations[in.ID], r.plugin[in.ID]
	r.mu.RUnlock()
	if cur == in && p != nil {
		return p
	}
	return &pluginhost.Integration{ID: in.ID, SettingsJSON: settingsJSON(in)}
}

// integration returns a snapshot: callers may read it freely, never modify.
func (r *registry) integration(id string) *model.Integration {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.integrations[id]
}

// siblings lists the other enabled integrations of a channel.
func (r *registry) siblings(of *model.Integration) []*model.Integration {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*model.Integration
	for _, in := range r.integrations {
		if in.ID != of.ID && in.Enabled && in.Channel == of.Channel {
			out = append(out, in)
		}
	}
	return out
}

func (r *registry) assistant(id string) (Assistant, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.assistants[id]
	return a, ok
}

// HasAssistant reports whether an assistant id is configured.
func (e *Engine) HasAssistant(id string) bool { _, ok := e.reg.assistant(id); return ok }

// AssistantIDs lists the configured assistants.
func (e *Engine) AssistantIDs() []string {
	e.reg.mu.RLock()
	defer e.reg.mu.RUnlock()
	ids := make([]string, 0, len(e.reg.assistants))
	for id := range e.reg.assistants {
		ids = append(ids, id)
	}
	return ids
}

func (r *registry) all() []*model.Integration {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*model.Integration, 0, len(r.integrations))
	for _, in := range r.integrations {
		out = append(out, in)
	}
	return out
}

// Integrations lists every integration (enabled or not), by id.
func (e *Engine) Integrations() []*model.Integration {
	all := e.reg.all()
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	return all
}
