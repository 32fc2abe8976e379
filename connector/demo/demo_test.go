package demo

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"zohosink/connector/dlq"
)

// The demo in process: every record produced is accounted for, the bad ones
// are dead-lettered with their reasons, and the offsets are committed. Run
// under -race, this drives the whole pipeline concurrently.
func TestDemoAccountsForEveryRecord(t *testing.T) {
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{Records: 30, Out: &out, Timeout: time.Minute})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var written, skipped, dead int64
	for _, s := range res.Status.Syncs {
		if s.Consumed != s.Written+s.Skipped+s.DeadLettered {
			t.Errorf("sync %s: consumed %d != written %d + skipped %d + dead-lettered %d", s.Name, s.Consumed, s.Written, s.Skipped, s.DeadLettered)
		}
		written, skipped, dead = written+s.Written, skipped+s.Skipped, dead+s.DeadLettered
	}
	if int(written+skipped+dead) != res.Produced || !res.LagZero {
		t.Errorf("produced %d, accounted %d, lag zero %v", res.Produced, written+skipped+dead, res.LagZero)
	}
	codes := map[string]bool{}
	for _, d := range res.DeadLetters {
		codes[d.Code] = true
		// What Zoho refused is in the dead letter: the value and the type.
		if d.Code == "INVALID_DATA" && d.Field != "" && !strings.Contains(d.Message, "(value ") {
			t.Errorf("dead letter %s/%d@%d: %q does not show the refused value", d.Topic, d.Partition, d.Offset, d.Message)
		}
	}
	for _, c := range []string{"DECODE_ERROR", "MAPPING_ERROR", "INVALID_DATA"} {
		if !codes[c] {
			t.Errorf("no %s among the dead letters %v", c, codes)
		}
	}
	if res.WriteCalls == 0 || res.Credits == 0 {
		t.Errorf("no writes counted: %+v", res)
	}
	checkSummary(t, out.String(), res)
}

// checkSummary checks the summary adds up and shows each dead letter's
// reason once, without the source its row names already.
func checkSummary(t *testing.T, out string, res *Result) {
	t.Helper()
	m := regexp.MustCompile(`Zoho API: +(\d+) calls \(([^)]*)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no Zoho API line naming the kinds of calls:\n%s", out)
	}
	total, _ := strconv.Atoi(m[1])
	sum := 0
	for _, part := range strings.Split(m[2], ", ") {
		var n int
		var kind string
		if _, err := fmt.Sscanf(part, "%d %s", &n, &kind); err != nil || res.Calls[kind] != n {
			t.Errorf("%q: not a count of calls of one kind (counted %v)", part, res.Calls)
		}
		sum += n
	}
	if sum != total || total != res.APICalls || !strings.Contains(m[2], "upsert") || !strings.Contains(m[2], "token") {
		t.Errorf("Zoho API line: the kinds (%s) sum to %d, the line says %d calls, the simulator answered %d", m[2], sum, total, res.APICalls)
	}
	for _, dl := range res.DeadLetters {
		src := fmt.Sprintf("%s/%d@%d", dl.Topic, dl.Partition, dl.Offset)
		var row string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, src+" ") {
				row = l
			}
		}
		if strings.Count(row, src) != 1 || strings.Contains(row, "...") {
			t.Errorf("the row of %s repeats its source or is cut: %q", src, row)
		}
	}
	if !strings.Contains(out, "value: schema id 9999: schema id not found in the registry") {
		t.Errorf("the unknown schema's reason is not shown whole:\n%s", out)
	}
}

func TestReasonDropsWhatTheRowShows(t *testing.T) {
	dl := dlq.Letter{Topic: "wh.public.customers", Partition: 0, Offset: 12}
	for msg, want := range map[string]string{
		"schema: decode value of wh.public.customers/0@12 (schema id 9999): schema id 9999: schema id not found in the registry": "value: schema id 9999: schema id not found in the registry",
		"schema: decode key of wh.public.customers/0@12 (schema id 7): bad varint":                                               "key (schema id 7): bad varint",
		"schema: decode value of wh.public.customers/0@12: invalid JSON: unexpected EOF":                                         "value: invalid JSON: unexpected EOF",
		"field Company: required field Company is empty (module Leads requires it)":                                              "field Company: required field Company is empty (module Leads requires it)",
	} {
		dl.Message = msg
		if got := reason(dl); got != want {
			t.Errorf("reason(%q) = %q, want %q", msg, got, want)
		}
	}
}
