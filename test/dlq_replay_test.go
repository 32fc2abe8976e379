package test

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var dlqReplayBroken = stackHeader("dlqrp") + `syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Last_Name: last_name, Email: email}, linger: 100ms}
`

// The fix: a constant fills the missing last name.
var dlqReplayFixed = stackHeader("dlqrp") + `syncs:
  - {name: contacts, topics: [wh.public.customers], module: Contacts, type: model, mode: upsert, match_on: [Email], fields: {Email: email}, constants: {Last_Name: Unknown}, linger: 100ms}
`

// stateColumn returns each row's source (offset in the source topic) and
// STATE, from inspect's table.
func stateColumn(t *testing.T, stdout string) map[string][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) < 3 {
		t.Fatalf("no table:\n%s", stdout)
	}
	head := lines[0]
	from, to := strings.Index(head, "STATE"), strings.Index(head, "MESSAGE")
	if from < 0 || to < from {
		t.Fatalf("no STATE column before MESSAGE:\n%s", stdout)
	}
	src := regexp.MustCompile(`wh\.public\.customers/0@(\d+)`)
	out := map[string][]string{}
	for _, l := range lines[1 : len(lines)-1] {
		m := src.FindStringSubmatch(l)
		if m == nil || len(l) < to {
			t.Fatalf("row %q: no source\n%s", l, stdout)
		}
		out[m[1]] = append(out[m[1]], strings.TrimSpace(l[from:to]))
	}
	return out
}

// Records that failed three replays are left (the replay's progress moves
// past them); after the fix, --from-start with a higher --max-replays sends
// each source record through its sync exactly once (from its newest copy,
// leaving the older copies), and inspect then shows them as replayed and
// hides them.
func TestDeadLetterReplayFromStartAfterMaxReplays(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	recs := rowsMissingLastName(t, enc, 12) // ids 0, 3, 6, 9 (offsets too): MAPPING_ERROR
	broken := map[string]bool{"0": true, "3": true, "6": true, "9": true}
	s.produce(recs...)
	brokenCfg := s.config(dlqReplayBroken, nil)
	fixedCfg := s.config(dlqReplayFixed, nil)
	runUntilCommitted(t, s, brokenCfg, "dlqrp", topic)

	// Three replays before the fix: each fails again.
	for i := 1; i <= 3; i++ {
		code, stdout, stderr := runCmd(t, nil, "dlq", "replay", "--config", brokenCfg)
		if code != 0 || !strings.Contains(stdout, "replayed 4 dead letter(s): 0 written, 0 skipped, 4 dead-lettered again;") {
			t.Fatalf("dlq replay %d before the fix: exit %d\n%s%s", i, code, stdout, stderr)
		}
	}
	if n := len(s.deadLetters("dlqrp.dlq")); n != 16 {
		t.Fatalf("%d dead letters, want 16 (4 records, 4 copies each)", n)
	}
	_, stdout, stderr := runCmd(t, nil, "dlq", "inspect", "--config", fixedCfg)
	for src, st := range stateColumn(t, stdout) {
		if !broken[src] || len(st) != 1 || st[0] != "pending" {
			t.Fatalf("after 3 replays, source %s: states %q, want one pending row per broken record\n%s%s", src, st, stdout, stderr)
		}
	}

	// Fixed, but the newest copies were replayed 3 times: left where they
	// are, and the summary says how to send them again.
	code, stdout, stderr := runCmd(t, nil, "dlq", "replay", "--config", fixedCfg)
	if code != 0 || !strings.Contains(stdout, "replayed 0 dead letter(s): 0 written, 0 skipped, 0 dead-lettered again; left in place: 4 replayed 3 times already") ||
		!strings.Contains(stdout, "--from-start --max-replays 4") {
		t.Fatalf("dlq replay after the fix: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, nil, "dlq", "inspect", "--config", fixedCfg)
	if code != 0 || footer(stdout) != "4 dead-lettered record(s) in dlqrp.dlq (12 older copies superseded by replays hidden; --all shows them)" {
		t.Fatalf("dlq inspect after the left replay: exit %d\n%s%s", code, stdout, stderr)
	}
	for src, st := range stateColumn(t, stdout) {
		if !broken[src] || len(st) != 1 || st[0] != "left (replayed 3 times)" {
			t.Fatalf("source %s: states %q, want left (replayed 3 times)\n%s", src, st, stdout)
		}
	}
	// A higher limit alone does not reach them: the progress is past them.
	code, stdout, stderr = runCmd(t, nil, "dlq", "replay", "--config", fixedCfg, "--max-replays", "5")
	if code != 0 || !strings.HasPrefix(stdout, "replayed 0 dead letter(s)") {
		t.Fatalf("dlq replay --max-replays 5: exit %d\n%s%s", code, stdout, stderr)
	}
	if n := len(s.sim.Records("Contacts")); n != 8 {
		t.Fatalf("%d contacts in Zoho before --from-start, want the 8 good ones", n)
	}

	// --from-start refuses while another replay is in the group.
	joined := make(chan struct{}, 1)
	member, err := kgo.NewClient(kgo.SeedBrokers(s.broker), kgo.ConsumerGroup("dlqrp.replay"), kgo.ConsumeTopics("dlqrp.dlq"), kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			select {
			case joined <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	pollCtx, stopPolling := context.WithCancel(context.Background())
	go func() {
		for pollCtx.Err() == nil {
			member.PollFetches(pollCtx)
		}
	}()
	select {
	case <-joined:
	case <-time.After(30 * time.Second):
		t.Fatal("the stand-in replay did not join the replay group")
	}
	code, stdout, stderr = runCmd(t, nil, "dlq", "replay", "--config", fixedCfg, "--from-start", "--max-replays", "4")
	stopPolling()
	member.Close()
	if code == 0 || !strings.Contains(stderr, "another `zohosink dlq replay` is running") || strings.Contains(stdout, "replayed") {
		t.Fatalf("dlq replay --from-start beside another replay: exit %d\n%s%s", code, stdout, stderr)
	}

	// --from-start with a limit above their count: each record once.
	s.sim.ResetRequests()
	code, stdout, stderr = runCmd(t, nil, "dlq", "replay", "--config", fixedCfg, "--from-start", "--max-replays", "4")
	want := "replayed 4 dead letter(s) (with 4 left by earlier replays, sent again): 4 written, 0 skipped, 0 dead-lettered again; left in place: 0 replayed 4 times already, 0 of unknown syncs, 0 older copies superseded by a newer one"
	if code != 0 || strings.TrimSpace(stdout) != want {
		t.Fatalf("dlq replay --from-start: exit %d, stdout\n%s\nwant\n%s\nstderr:\n%s", code, stdout, want, stderr)
	}
	sent := map[string]int{}
	for _, r := range s.sim.Requests() {
		if r.Operation != "upsert" {
			continue
		}
		var body struct {
			Data []map[string]any `json:"data"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("upsert body: %v: %s", err, r.Body)
		}
		for _, rec := range body.Data {
			e, _ := rec["Email"].(string)
			sent[e]++
		}
	}
	for id := range broken {
		n, _ := strconv.Atoi(id)
		if sent[email(n)] != 1 {
			t.Errorf("%s sent %d times by the replay, want once (sent: %v)", email(n), sent[email(n)], sent)
		}
	}
	if len(sent) != 4 {
		t.Errorf("the replay sent %d records, want the 4 dead-lettered ones: %v", len(sent), sent)
	}
	fixed := 0
	for _, rec := range s.sim.Records("Contacts") {
		if rec["Last_Name"] == "Unknown" {
			fixed++
		}
	}
	if fixed != 4 || len(s.sim.Records("Contacts")) != 12 {
		t.Fatalf("%d contacts written by the replay of %d in Zoho, want 4 of 12", fixed, len(s.sim.Records("Contacts")))
	}

	// inspect: nothing left to replay; the records written are hidden, and
	// --all shows what became of every copy.
	code, stdout, stderr = runCmd(t, nil, "dlq", "inspect", "--config", fixedCfg)
	want = "no dead letters left to replay in dlqrp.dlq (4 replayed by an earlier `dlq replay` and 16 older copies superseded by replays hidden; --all shows them)"
	if code != 0 || strings.TrimSpace(stdout) != want {
		t.Fatalf("dlq inspect after --from-start: exit %d, stdout\n%s\nwant\n%s\nstderr:\n%s", code, stdout, want, stderr)
	}
	code, stdout, stderr = runCmd(t, nil, "dlq", "inspect", "--config", fixedCfg, "--all")
	if code != 0 || footer(stdout) != "20 dead-lettered record(s) in dlqrp.dlq" {
		t.Fatalf("dlq inspect --all: exit %d\n%s%s", code, stdout, stderr)
	}
	for src, st := range stateColumn(t, stdout) {
		if got := strings.Join(st, ","); !broken[src] || got != "superseded,superseded,superseded,superseded,replayed" {
			t.Fatalf("source %s: states %s, want its four older copies superseded (the last one copied back by --from-start) and the newest replayed\n%s", src, got, stdout)
		}
	}
	code, stdout, stderr = runCmd(t, nil, "dlq", "inspect", "--config", fixedCfg, "--json")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "4 replayed by an earlier `dlq replay`") {
		t.Fatalf("dlq inspect --json: exit %d, stdout %q, stderr %q; want no records on stdout and the hidden count on stderr", code, stdout, stderr)
	}
	code, stdout, _ = runCmd(t, nil, "dlq", "inspect", "--config", fixedCfg, "--json", "--all")
	states := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var d struct {
			State       string `json:"state"`
			ReplayCount int    `json:"replay_count"`
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if d.State == "replayed" && d.ReplayCount != 3 {
			t.Fatalf("copy replayed %d times is %q: %s", d.ReplayCount, d.State, l)
		}
		states[d.State]++
	}
	if code != 0 || states["replayed"] != 4 || states["superseded"] != 16 || len(states) != 2 {
		t.Fatalf("dlq inspect --json --all: exit %d, states %v, want 4 replayed and 16 superseded\n%s", code, states, stdout)
	}

	// And nothing more to replay.
	code, stdout, stderr = runCmd(t, nil, "dlq", "replay", "--config", fixedCfg)
	if code != 0 || !strings.HasPrefix(stdout, "replayed 0 dead letter(s): 0 written") {
		t.Fatalf("dlq replay after --from-start: exit %d\n%s%s", code, stdout, stderr)
	}
	// Not even from the start: what a replay wrote is not sent again (it
	// would undo later changes in Zoho, or insert twice).
	s.sim.ResetRequests()
	code, stdout, stderr = runCmd(t, nil, "dlq", "replay", "--config", fixedCfg, "--from-start", "--max-replays", "4")
	want = "replayed 0 dead letter(s) (with 0 left by earlier replays, sent again): 0 written, 0 skipped, 0 dead-lettered again; left in place: 0 replayed 4 times already, 0 of unknown syncs, 0 older copies superseded by a newer one"
	if code != 0 || strings.TrimSpace(stdout) != want {
		t.Fatalf("second dlq replay --from-start: exit %d, stdout\n%s\nwant\n%s\nstderr:\n%s", code, stdout, want, stderr)
	}
	for _, r := range s.sim.Requests() {
		if r.Operation == "upsert" {
			t.Fatalf("the second replay from the start wrote to Zoho: %s", r.Body)
		}
	}
}

// Dead letters a replay wrote are no longer listed as if they were waiting:
// inspect hides them, says how many, and --all and --json tell their state.
func TestDeadLetterInspectHidesReplayed(t *testing.T) {
	topic := contactsTable.Topic()
	s := newStack(t, 1, []string{topic})
	enc := s.register(contactsTable)
	recs := rowsMissingLastName(t, enc, 18) // 6 MAPPING_ERROR
	s.produce(recs...)
	brokenCfg := s.config(dlqReplayBroken, nil)
	fixedCfg := s.config(dlqReplayFixed, nil)
	runUntilCommitted(t, s, brokenCfg, "dlqrp", topic)
	code, stdout, stderr := runCmd(t, nil, "dlq", "replay", "--config", fixedCfg)
	if code != 0 || !strings.HasPrefix(stdout, "replayed 6 dead letter(s): 6 written") {
		t.Fatalf("dlq replay: exit %d\n%s%s", code, stdout, stderr)
	}
	// A new dead letter after the replay is pending, and shown.
	late := event(t, enc, 'c', nil, map[string]any{"id": int64(100), "email": email(100), "last_name": nil, "title": "T", "phone": "1", "note": nil})
	s.produce(late)
	runUntilCommitted(t, s, brokenCfg, "dlqrp", topic)

	code, stdout, stderr = runCmd(t, nil, "dlq", "inspect", "--config", fixedCfg)
	want := "1 dead-lettered record(s) in dlqrp.dlq (6 replayed by an earlier `dlq replay` hidden; --all shows them)"
	if code != 0 || len(rows(stdout)) != 1 || !strings.Contains(rows(stdout)[0], "@18 ") || footer(stdout) != want {
		t.Fatalf("dlq inspect: exit %d, footer %q, want %q and the new dead letter only\n%s%s", code, footer(stdout), want, stdout, stderr)
	}
	if st := stateColumn(t, stdout)["18"]; len(st) != 1 || st[0] != "pending" {
		t.Fatalf("the new dead letter is %q, want pending\n%s", st, stdout)
	}
	code, stdout, _ = runCmd(t, nil, "dlq", "inspect", "--config", fixedCfg, "--all", "--limit", "3")
	if code != 0 || len(rows(stdout)) != 3 || footer(stdout) != "showing 3 of 7 dead-lettered record(s) in dlqrp.dlq" {
		t.Fatalf("dlq inspect --all --limit 3: exit %d\n%s", code, stdout)
	}
	for src, st := range stateColumn(t, stdout) {
		if len(st) != 1 || st[0] != "replayed" {
			t.Fatalf("source %s is %q, want replayed\n%s", src, st, stdout)
		}
	}
	code, stdout, _ = runCmd(t, nil, "dlq", "inspect", "--config", fixedCfg, "--json")
	var d struct {
		State string `json:"state"`
		Code  string `json:"code"`
	}
	if err := json.Unmarshal([]byte(stdout), &d); code != 0 || err != nil || d.State != "pending" || d.Code != "MAPPING_ERROR" || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("dlq inspect --json: exit %d, %v\n%s", code, err, stdout)
	}
}
