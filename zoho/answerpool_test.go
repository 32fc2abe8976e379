package zoho_test

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"zohosink/zoho"
	"zohosink/zoho/zohotest"
)

// TestWriteResultsOutliveTheAnswer: a write's answer is read into a buffer
// the next write reuses, so nothing of a write's results may point into it.
// The results of a first upsert (new records, updates and refused ones,
// whose errors carry Zoho's details) must read the same after later upserts
// whose answers differ.
func TestWriteResultsOutliveTheAnswer(t *testing.T) {
	srv := newSim(t, zohotest.WithEdition("ultimate"), zohotest.WithDailyCredits(1<<30))
	c := simClient(t, srv, watchSecrets(t))
	ctx := context.Background()
	opts := zoho.WriteOptions{DuplicateCheckFields: []string{"Email"}}
	batch := func(round int) []zoho.Record {
		recs := make([]zoho.Record, 100)
		for i := range recs {
			recs[i] = zoho.Record{"Last_Name": fmt.Sprintf("R%dN%d", round, i), "Email": fmt.Sprintf("r%d-%d@example.com", round%2, i)}
			if i%10 == round%10 {
				delete(recs[i], "Last_Name") // refused: a mandatory field is missing
			}
			if i%10 == (round+5)%10 {
				recs[i]["Email"] = fmt.Sprintf("not an email %d %d", round, i) // refused: invalid data
			}
		}
		return recs
	}
	var kept [][]zoho.Result
	var snapshots []string
	for round := range 6 {
		res, err := c.Upsert(ctx, "Contacts", batch(round), opts)
		if err != nil {
			t.Fatal(err)
		}
		refused := 0
		for _, r := range res {
			if !r.OK() {
				refused++
			}
		}
		if refused < 10 {
			t.Fatalf("round %d: %d records refused, want at least 10 (the test needs error results)", round, refused)
		}
		checkResults(t, round, res)
		kept = append(kept, res)
		snapshots = append(snapshots, fmt.Sprintf("%#v", deref(res)))
	}
	for i, res := range kept {
		checkResults(t, i, res)
		if got := fmt.Sprintf("%#v", deref(res)); got != snapshots[i] {
			t.Errorf("the results of write %d changed after later writes", i)
		}
	}
	if reflect.DeepEqual(snapshots[0], snapshots[1]) {
		t.Error("two writes of different records answered alike: the test proves nothing")
	}
}

// checkResults checks that every result reads as Zoho answered: ids of
// digits, known actions and codes, messages of printable text.
func checkResults(t *testing.T, round int, res []zoho.Result) {
	t.Helper()
	digits := regexp.MustCompile(`^[0-9]+$`)
	for i, r := range res {
		switch {
		case r.OK() && (!digits.MatchString(r.ID) || r.Action != "insert" && r.Action != "update"):
			t.Errorf("write %d, record %d: id %q, action %q", round, i, r.ID, r.Action)
		case !r.OK() && (r.Err.Code != "MANDATORY_NOT_FOUND" && r.Err.Code != "INVALID_DATA" || r.Err.Message == "" ||
			strings.ContainsFunc(r.Err.Message+r.Err.APIName, func(c rune) bool { return !unicode.IsPrint(c) })):
			t.Errorf("write %d, record %d: error %+v", round, i, *r.Err)
		}
	}
}

// deref spells out the record errors, which %#v would print as pointers.
func deref(res []zoho.Result) []any {
	out := make([]any, len(res))
	for i, r := range res {
		if r.Err != nil {
			out[i] = []any{r.ID, r.Action, r.DuplicateField, *r.Err}
		} else {
			out[i] = []any{r.ID, r.Action, r.DuplicateField}
		}
	}
	return out
}
