package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
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
}
