package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README's configuration reference lists every key of Config, and no
// key Config does not have.
func TestReadmeConfigReference(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "## Configuration reference")
	end := strings.Index(text, "## What each mode does")
	if start < 0 || end < start {
		t.Fatal("README.md has no '## Configuration reference' section before '## What each mode does'")
	}
	section := text[start:end]
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_.\\[\\]]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented[m[1]] = true
	}
	keys := map[string]bool{}
	for _, k := range ReferenceKeys() {
		keys[k] = true
		if !documented[k] {
			t.Errorf("config key %s is not in the README's reference table", k)
		}
	}
	for k := range documented {
		if !keys[k] {
			t.Errorf("the README documents %s, which the config does not have", k)
		}
	}
}
