package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/conversa/conversa/core/model"
	"github.com/conversa/conversa/core/store"
)

// The concurrency contracts: many goroutines against one store. Correctness
// must not rest on there being one writer, so each is a race the store's
// guarded statements and unique keys decide. Run with -race.
func testConcurrency(t *testing.T, open Open) {
	t.Run("AssignNeverExceedsMaxChats", func(t *testing.T) {
		testConcurrentAssign(t, open, []agentSpec{{"ana", 8, model.AgentAvailable}}, 50)
	})
	t.Run("AssignSeveralAgents", func(t *testing.T) {
		testConcurrentAssign(t, open, []agentSpec{
			{"ana", 8, model.AgentAvailable}, {"bia", 3, model.AgentAvailable}, {"caio", 1, model.AgentAvailable},
			{"duda", 5, model.AgentAvailable}, {"edu", 4, model.AgentPaused},
		}, 40)
	})
	t.Run("SetStatusNeverMovesBackwards", func(t *testing.T) { testConcurrentSetStatus(t, open) })
	t.Run("FirstMessagesOpenOneConversation", func(t *testing.T) { testConcurrentFirstMessages(t, open) })
	t.Run("AddSameProviderIDStoresOne", func(t *testing.T) { testConcurrentAdd(t, open) })
	t.Run("InboxClaimers", func(t *testing.T) { testConcurrentClaims(t, open, inboxOps, 20, 50) })
	t.Run("OutboxClaimers", func(t *testing.T) { testConcurrentClaims(t, open, outboxOps, 20, 25) })
	t.Run("AddWhileDraining", func(t *testing.T) { testDraining(t, open) })
}

type agentSpec struct {
	id     string
	max    int
	status string
}

// testConcurrentAssign: 50 goroutines each go through every queued
// conversation in their own order, trying the agents in their own order
// until one takes it. Afterwards every available agent is full (capacity
// only shrinks, so a refusal could not have been right), nobody is over
// their maximum, and no conversation was given twice.
func testConcurrentAssign(t *testing.T, open Open, agents []agentSpec, conversations int) {
	f := setup(t, open)
	f.integration("ig1")
	capacity := 0
	for _, a := range agents {
		f.agent(a.id, a.max, a.status, model.DefaultSquad)
		if a.status == model.AgentAvailable {
			capacity += a.max
		}
	}
	var convs []int64
	for range conversations {
		convs = append(convs, f.queued("ig1", model.DefaultSquad, 0).ID)
	}

	const workers = 50
	var (
		mu       sync.Mutex
		given    = map[int64][]string{} // conversation: the agents Assign succeeded for
		failures []string
		wg       sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			order := slices.Clone(convs)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, id := range order {
				ids := make([]string, len(agents))
				for i, a := range agents {
					ids[i] = a.id
				}
				rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
				for _, agent := range ids {
					c, err := f.s.Conversations().Assign(f.ctx, id, agent)
					if err == nil {
						mu.Lock()
						given[id] = append(given[id], agent)
						if c.Agent != agent || c.State != model.StateAssigned {
							failures = append(failures, fmt.Sprintf("Assign(%d, %s) = %s %q", id, agent, c.State, c.Agent))
						}
						mu.Unlock()
						break
					}
					if errors.Is(err, store.ErrIllegalTransition) {
						break // someone else assigned it
					}
					if !errors.Is(err, store.ErrNoCapacity) {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("Assign(%d, %s) = %v, want nil, ErrNoCapacity or ErrIllegalTransition", id, agent, err))
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, msg := range failures {
		t.Error(msg)
	}

	perAgent := map[string]int{}
	total := 0
	for id, as := range given {
		if len(as) > 1 {
			t.Errorf("conversation %d was assigned %d times: %v", id, len(as), as)
		}
		perAgent[as[len(as)-1]]++
		total++
		if c := f.getConversation(id); c.State != model.StateAssigned || c.Agent != as[len(as)-1] {
			t.Errorf("conversation %d = %s %q, want assigned to %s", id, c.State, c.Agent, as[len(as)-1])
		}
	}
	for _, a := range agents {
		got := f.getAgent(a.id)
		list, err := f.s.Conversations().List(f.ctx, store.ConversationFilter{Agent: a.id, State: model.StateAssigned})
		f.must(err, "List(agent %s)", a.id)
		if got.OpenChats > a.max || len(list) > a.max {
			t.Errorf("agent %s (max %d): OpenChats %d, %d assigned conversations: over the maximum", a.id, a.max, got.OpenChats, len(list))
		}
		if got.OpenChats != len(list) || len(list) != perAgent[a.id] {
			t.Errorf("agent %s: OpenChats %d, %d assigned conversations, %d successful Assign calls: want them equal",
				a.id, got.OpenChats, len(list), perAgent[a.id])
		}
		if want := a.max; a.status != model.AgentAvailable {
			if len(list) != 0 {
				t.Errorf("%s agent %s got %d conversations, want 0", a.status, a.id, len(list))
			}
		} else if len(list) != want && capacity <= conversations {
			t.Errorf("agent %s has %d conversations, want %d: a refusal left a slot free while conversations waited", a.id, len(list), want)
		}
	}
	if want := min(capacity, conversations); total != want {
		t.Errorf("%d conversations assigned, want %d (the capacity of the available agents)", total, want)
	}
}

// sendOrder ranks the states of SendMachine along its only forward path.
var sendOrder = map[string]int{
	model.StatusPending: 0, model.StatusInFlight: 1, model.StatusSent: 2,
	model.StatusDelivered: 3, model.StatusRead: 4, model.StatusFailed: 5,
}

// testConcurrentSetStatus: goroutines report random statuses for sent
// messages while a reader watches them. From sent the machine only moves
// forward (sent < delivered < read < failed, none to itself), so every
// success is a step up: no status is reached twice, the successes in order
// form a chain of legal steps, and the final status is the highest reached.
func testConcurrentSetStatus(t *testing.T, open Open) {
	f := setup(t, open)
	f.integration("ig1")
	c := f.conversation("ig1")
	var ids []int64
	for i := range 20 {
		ids = append(ids, f.send(c, fmt.Sprintf("message %d", i)).ID)
	}
	statuses := []string{
		model.StatusPending, model.StatusInFlight, model.StatusSent,
		model.StatusDelivered, model.StatusDelivered, model.StatusDelivered,
		model.StatusRead, model.StatusRead, model.StatusRead, model.StatusFailed,
	}

	const workers, tries = 8, 6
	type success struct {
		worker int
		status string
	}
	var (
		mu        sync.Mutex
		successes = map[int64][]success{}
		failures  []string
		wg        sync.WaitGroup
		stop      = make(chan struct{})
		watched   sync.WaitGroup
	)
	report := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	watched.Add(1)
	go func() { // nothing ever reads a status lower than one read before
		defer watched.Done()
		last := map[int64]int{}
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, id := range ids {
				m, err := f.s.Messages().Get(f.ctx, id)
				if err != nil {
					report("Get(%d) = %v", id, err)
					return
				}
				r := sendOrder[m.Status]
				if r < last[id] {
					report("message %d read as %s after a higher status", id, m.Status)
				}
				last[id] = r
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			mine := map[int64][]string{}
			for range tries {
				for _, id := range ids {
					st := statuses[rng.IntN(len(statuses))]
					err := f.s.Messages().SetStatus(f.ctx, id, st, "")
					switch {
					case err == nil:
						mu.Lock()
						successes[id] = append(successes[id], success{w, st})
						mu.Unlock()
						mine[id] = append(mine[id], st)
					case !errors.Is(err, store.ErrIllegalTransition):
						report("SetStatus(%d, %s) = %v, want nil or a refused transition", id, st, err)
					}
				}
			}
			// What one goroutine succeeded with, per message, only rises.
			for id, seq := range mine {
				for i := 1; i < len(seq); i++ {
					if sendOrder[seq[i]] <= sendOrder[seq[i-1]] {
						report("worker %d: message %d moved to %s after %s", w, id, seq[i], seq[i-1])
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	watched.Wait()
	for _, msg := range failures {
		t.Error(msg)
	}

	for _, id := range ids {
		got := successes[id]
		reached := map[string]int{}
		chain := []string{model.StatusSent}
		for _, s := range got {
			reached[s.status]++
			chain = append(chain, s.status)
		}
		for st, n := range reached {
			if n > 1 {
				t.Errorf("message %d: SetStatus(%s) succeeded %d times, want at most once (no state moves to itself)", id, st, n)
			}
		}
		slices.SortStableFunc(chain, func(a, b string) int { return sendOrder[a] - sendOrder[b] })
		for i := 1; i < len(chain); i++ {
			if !model.SendMachine.Allowed(chain[i-1], chain[i]) {
				t.Errorf("message %d: successes %v include %s -> %s, which SendMachine refuses", id, got, chain[i-1], chain[i])
			}
		}
		if m := f.getMessage(id); m.Status != chain[len(chain)-1] {
			t.Errorf("message %d: final status %s, want %s, the highest reached (%v)", id, m.Status, chain[len(chain)-1], got)
		}
	}
}

// testConcurrentFirstMessages: a contact's first messages arrive together;
// each is processed in its own transaction that finds the contact, starts
// a conversation and stores the message. One conversation opens, holding
// them all.
func testConcurrentFirstMessages(t *testing.T, open Open) {
	f := setup(t, open)
	f.integration("ig1")
	const n = 20
	started := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.s.Tx(f.ctx, func(tx store.Tx) error {
				started[i] = false
				ct, err := tx.Contacts().Upsert(f.ctx, "ig1", "u1", store.ContactHints{Name: "Ana"}, tx.Now())
				if err != nil {
					return err
				}
				c := &model.Conversation{Integration: "ig1", ContactID: ct.ID, State: model.StateBot, Origin: model.OriginDirect}
				s, err := tx.Conversations().Start(f.ctx, c)
				if err != nil {
					return err
				}
				started[i] = s
				m := &model.Message{Conversation: c.ID, Integration: "ig1", Direction: model.DirectionIn, Author: model.AuthorContact,
					Contents: text(fmt.Sprintf("message %d", i)), Status: model.StatusReceived}
				_, err = tx.Messages().Add(f.ctx, m, fmt.Sprintf("mid.%d", i))
				return err
			})
		}()
	}
	wg.Wait()
	opened := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Tx(first message %d) = %v, want nil", i, errs[i])
		}
		if started[i] {
			opened++
		}
	}
	if opened != 1 {
		t.Errorf("%d transactions started a conversation, want 1", opened)
	}
	list, err := f.s.Conversations().List(f.ctx, store.ConversationFilter{Integration: "ig1"})
	f.must(err, "List")
	if len(list) != 1 {
		t.Fatalf("List() = %d conversations, want 1", len(list))
	}
	msgs, err := f.s.Messages().List(f.ctx, list[0].ID)
	f.must(err, "Messages().List")
	if len(msgs) != n {
		t.Errorf("the conversation holds %d messages, want %d", len(msgs), n)
	}
}

// testConcurrentAdd: one provider message delivered many times at once is
// stored once; every other Add returns it.
func testConcurrentAdd(t *testing.T, open Open) {
	f := setup(t, open)
	f.integration("ig1")
	c := f.conversation("ig1")
	const n = 20
	type result struct {
		existing bool
		id       int64
		err      error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := &model.Message{Conversation: c.ID, Integration: "ig1", Direction: model.DirectionIn, Author: model.AuthorContact,
				Contents: text(fmt.Sprintf("copy %d", i)), Status: model.StatusReceived}
			existing, err := f.s.Messages().Add(f.ctx, m, "mid.same")
			results[i] = result{existing, m.ID, err}
		}()
	}
	wg.Wait()
	stored, err := f.s.Messages().ByProviderID(f.ctx, "ig1", "mid.same")
	f.must(err, "ByProviderID")
	fresh := 0
	for i, r := range results {
		if r.err != nil {
			t.Errorf("Add(copy %d) = %v, want nil", i, r.err)
			continue
		}
		if !r.existing {
			fresh++
		}
		if r.id != stored.ID {
			t.Errorf("Add(copy %d) set m.ID %d, want the stored %d", i, r.id, stored.ID)
		}
	}
	if fresh != 1 {
		t.Errorf("%d Add calls stored a new message, want 1", fresh)
	}
	list, err := f.s.Messages().List(f.ctx, c.ID)
	f.must(err, "List")
	if len(list) != 1 {
		t.Errorf("List() = %d messages, want 1", len(list))
	}
}

// testConcurrentClaims: 8 workers with their own owners claim and complete
// rows of keys × rows until the queue is empty. No two ever hold one key,
// every row is completed exactly once, and each key's rows in order.
func testConcurrentClaims[T any](t *testing.T, open Open, newOps func(*fixture) *queueOps[T], keys, rows int) {
	f := setup(t, open)
	q := &queueFixture[T]{fixture: f, ops: newOps(f)}
	added := map[string][]string{}
	for _, key := range q.ops.keys(keys) {
		added[key] = q.addMany(key, rows)
	}

	const workers = 8
	deadline := time.Now().Add(2 * time.Minute) // wall time: a stuck queue fails instead of hanging
	var (
		mu       sync.Mutex
		holder   = map[string]string{}   // key: the worker holding it now
		done     = map[string]int{}      // label: times completed
		order    = map[string][]string{} // key: labels in the order they were claimed
		failures []string
		wg       sync.WaitGroup
	)
	report := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("worker-%d", w)
			queue := q.ops.queue(f.s)
			for {
				if time.Now().After(deadline) {
					report("%s: the queue was not drained in time", owner)
					return
				}
				items, err := queue.Claim(f.ctx, owner, 3, time.Minute)
				if err != nil {
					report("%s: Claim = %v", owner, err)
					return
				}
				if len(items) == 0 {
					n, err := queue.Backlog(f.ctx)
					if err != nil {
						report("%s: Backlog = %v", owner, err)
						return
					}
					if n == 0 {
						return
					}
					time.Sleep(time.Millisecond)
					continue
				}
				mu.Lock()
				for _, it := range items {
					k := q.ops.key(it)
					if h, held := holder[k]; held {
						failures = append(failures, fmt.Sprintf("%s claimed key %s while %s held it", owner, k, h))
					}
					holder[k] = owner
					// The order of claims, not of completions: once done
					// commits, the next row may be claimed, completed and
					// recorded before this worker records its own.
					order[k] = append(order[k], q.ops.label(it))
				}
				mu.Unlock()
				for _, it := range items {
					k, label := q.ops.key(it), q.ops.label(it)
					mu.Lock()
					// Let go before completing: once done commits, another
					// worker may rightly claim the key.
					if holder[k] == owner {
						delete(holder, k)
					}
					mu.Unlock()
					if err := q.ops.done(f.s, it); err != nil {
						report("%s: completing %s = %v", owner, label, err)
						continue
					}
					mu.Lock()
					done[label]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, msg := range failures {
		t.Error(msg)
	}
	for key, labels := range added {
		for _, l := range labels {
			if done[l] != 1 {
				t.Errorf("row %s completed %d times, want 1", l, done[l])
			}
		}
		if !slices.Equal(order[key], labels) {
			t.Errorf("key %s: rows claimed in the order %v, want %v", key, order[key], labels)
		}
	}
	if n := q.backlog(); n != 0 {
		t.Errorf("Backlog() after the workers stopped = %d, want 0", n)
	}
}
