package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"zohosink/zoho"
)

// ValidationError lists every problem Validate found.
type ValidationError struct {
	Problems []Problem
}

// Problem is one invalid or missing value.
type Problem struct {
	// Sync is the name of the sync the key belongs to, "" for global keys
	// (and for a sync without a name: Key still says which one).
	Sync string
	// Key is the key path, e.g. "syncs[1].match_on" or "zoho.data_center".
	Key string
	// Message says what is wrong and, where it can, how to fix it.
	Message string
	// Line is the line of the key in the config file (of the nearest
	// enclosing key present when the key itself is absent); 0 when unknown.
	Line int
}

// String formats the problem as one line:
// `sync "contacts": syncs[0].match_on: ... (line 14)`.
func (p Problem) String() string {
	s := p.Key + ": " + p.Message
	if p.Sync != "" {
		s = fmt.Sprintf("sync %q: %s", p.Sync, s)
	}
	if p.Line > 0 {
		s += fmt.Sprintf(" (line %d)", p.Line)
	}
	return s
}

// lineOf returns the line of key, or of its nearest enclosing key present
// in the file (syncs[1].match_on -> syncs[1]); 0 when none is known.
func lineOf(lines map[string]int, key string) int {
	for key != "" {
		if l, ok := lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// Error returns one line per problem.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Validation vocabularies.
var (
	dataCenters    = zoho.DataCenters()
	environments   = []string{"production", "sandbox", "developer"}
	saslMechanisms = []string{"plain", "scram-sha-256", "scram-sha-512"}
	syncTypes      = []string{"model", "audience"}
	removeActions  = []string{"delete", "untag", "clear_fields"}
	triggers       = []string{"workflow", "approval", "blueprint", "pathfinder", "orchestration"}
	syncFormats    = []string{"auto", "avro", "json"}
	logLevels      = []string{"debug", "info", "warn", "error"}
	logFormats     = []string{"json", "text"}
	modesByType    = map[string][]string{"model": {"upsert", "insert", "update"}, "audience": {"add", "remove", "mirror", "upsert"}}
	editionNames   = zoho.Editions()

	syncNameRe  = regexp.MustCompile(`^[a-z0-9_-]+$`)
	apiNameRe   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_$]*$`)
	topicNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)
)

// maxConcurrency is the highest max_concurrency of any edition.
const maxConcurrency = 25

type problemList []Problem

func (l *problemList) add(sync, key, format string, args ...any) {
	*l = append(*l, Problem{Sync: sync, Key: key, Message: fmt.Sprintf(format, args...)})
}

func oneOf(list []string) string { return strings.Join(list, ", ") }

// Validate checks the whole config and returns a *ValidationError listing
// every problem, each naming its sync and key, or nil when the config is
// valid. It reads the TLS files' metadata but changes nothing.
func (c *Config) Validate() error {
	var p problemList
	c.validateKafka(&p)
	c.validateRegistry(&p)
	c.validateZoho(&p)
	c.validateSyncs(&p)
	if _, port, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		p.add("", "http.listen", "%q is not host:port (e.g. 127.0.0.1:9464)", c.HTTP.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add("", "http.listen", "%q: port %q is not a number from 0 to 65535", c.HTTP.Listen, port)
	}
	if !slices.Contains(logLevels, c.Log.Level) {
		p.add("", "log.level", "%q is not one of %s", c.Log.Level, oneOf(logLevels))
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		p.add("", "log.format", "%q is not one of %s", c.Log.Format, oneOf(logFormats))
	}
	if c.Log.ProgressInterval.D() < time.Second {
		p.add("", "log.progress_interval", "%s: must be at least 1s", c.Log.ProgressInterval)
	}
	if len(p) == 0 {
		return nil
	}
	for i := range p {
		p[i].Line = lineOf(c.lines, p[i].Key)
		if c.unexpand != nil {
			p[i].Message = c.unexpand(p[i].Message)
		}
	}
	return &ValidationError{Problems: p}
}

func (c *Config) validateKafka(p *problemList) {
	k := c.Kafka
	if len(k.Brokers) == 0 {
		p.add("", "kafka.brokers", "required: list at least one broker as host:port")
	}
	for i, b := range k.Brokers {
		key := fmt.Sprintf("kafka.brokers[%d]", i)
		switch {
		case strings.TrimSpace(b) == "":
			p.add("", key, "empty broker address")
		case strings.Contains(b, "://"):
			p.add("", key, "%q is a URL; a broker is host:port (e.g. localhost:9092)", b)
		case strings.ContainsAny(b, " ,"):
			p.add("", key, "%q is not one host:port; list each broker as its own item", b)
		}
	}
	if k.GroupID == "" {
		p.add("", "kafka.group_id", "required")
	}
	if k.DeadLetterTopic == "" {
		p.add("", "kafka.dead_letter_topic", "required")
	} else if !topicNameRe.MatchString(k.DeadLetterTopic) {
		p.add("", "kafka.dead_letter_topic", "%q is not a valid Kafka topic name ([A-Za-z0-9._-], at most 249 characters)", k.DeadLetterTopic)
	}
	if k.StartOffset != "earliest" && k.StartOffset != "latest" {
		p.add("", "kafka.start_offset", "%q is not earliest or latest", k.StartOffset)
	}
	if d := k.CommitInterval.D(); d <= 0 || d > MaxCommitInterval {
		p.add("", "kafka.commit_interval", "%s is out of range: must be more than 0 and at most %s", d, MaxCommitInterval)
	}
	if k.SessionTimeout.D() <= 0 {
		p.add("", "kafka.session_timeout", "%s: must be more than 0", k.SessionTimeout)
	}
	if k.RebalanceTimeout.D() <= 0 {
		p.add("", "kafka.rebalance_timeout", "%s: must be more than 0", k.RebalanceTimeout)
	}
	if h := k.HeartbeatInterval.D(); h <= 0 || k.SessionTimeout.D() > 0 && 3*h > k.SessionTimeout.D() {
		p.add("", "kafka.heartbeat_interval", "%s is out of range: must be more than 0 and at most a third of kafka.session_timeout (%s)", h, k.SessionTimeout)
	}
	if k.MaxBufferedBytes < 1<<20 {
		p.add("", "kafka.max_buffered_bytes", "%d: must be at least 1048576 (1 MiB); the default is %d (%d MiB)", k.MaxBufferedBytes, DefaultMaxBufferedBytes, DefaultMaxBufferedBytes>>20)
	}
	if k.TLS.Enabled {
		for _, f := range []struct{ key, path string }{
			{"kafka.tls.ca_file", k.TLS.CAFile}, {"kafka.tls.cert_file", k.TLS.CertFile}, {"kafka.tls.key_file", k.TLS.KeyFile},
		} {
			if f.path == "" {
				continue
			}
			if st, err := os.Stat(f.path); err != nil {
				var pe *os.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				p.add("", f.key, "cannot read %s: %v", f.path, err)
			} else if st.IsDir() {
				p.add("", f.key, "%s is a directory, not a PEM file", f.path)
			}
		}
		if (k.TLS.CertFile == "") != (k.TLS.KeyFile == "") {
			key := "kafka.tls.key_file"
			if k.TLS.CertFile == "" {
				key = "kafka.tls.cert_file"
			}
			p.add("", key, "cert_file and key_file go together: set both for mutual TLS, or neither")
		}
	}
	s := k.SASL
	switch s.Mechanism {
	case "":
	case "plain", "scram-sha-256", "scram-sha-512":
		if s.Username == "" {
			p.add("", "kafka.sasl.username", "required with sasl.mechanism %s", s.Mechanism)
		}
		if s.Password == "" {
			p.add("", "kafka.sasl.password", "required with sasl.mechanism %s", s.Mechanism)
		}
	default:
		msg := fmt.Sprintf("%q is not one of %s (or empty for none)", s.Mechanism, oneOf(saslMechanisms))
		if low := strings.ToLower(strings.ReplaceAll(s.Mechanism, "_", "-")); slices.Contains(saslMechanisms, low) {
			msg = fmt.Sprintf("%q: write %s", s.Mechanism, low)
		}
		p.add("", "kafka.sasl.mechanism", "%s", msg)
	}
}

func (c *Config) validateRegistry(p *problemList) {
	r := c.SchemaRegistry
	if r.URL == "" {
		for _, s := range c.Syncs {
			if s.Format == "auto" || s.Format == "avro" {
				p.add("", "schema_registry.url", "required: sync %q decodes with format %s, and Confluent-framed Avro needs the registry (with format auto zohosink cannot know beforehand whether a topic carries Avro; set format: json on syncs whose topics carry plain JSON to run without one)", s.Name, s.Format)
				break
			}
		}
	} else if msg := checkHTTPURL(r.URL); msg != "" {
		p.add("", "schema_registry.url", "%s", msg)
	} else if u, _ := url.Parse(r.URL); u.User != nil {
		p.add("", "schema_registry.url", "carries a user (and password) while schema_registry.username is set too: give the credentials once, in username and password")
	}
	if r.Username == "" && r.Password != "" {
		p.add("", "schema_registry.username", "required when schema_registry.password is set")
	}
	if r.Username != "" && r.Password == "" {
		p.add("", "schema_registry.password", "required when schema_registry.username is set")
	}
}

// checkHTTPURL returns what is wrong with an http(s) base URL, "" if nothing.
// The URL is quoted without a password it may hold.
func checkHTTPURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a URL", RedactURL(s))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("%q is not an http:// or https:// URL", u.Redacted())
	}
	if u.Host == "" {
		return fmt.Sprintf("%q has no host", u.Redacted())
	}
	return ""
}

// userinfo matches the user:password@ part of URLs inside any text.
var userinfo = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://[^/@\s:]*):[^/@\s]*@`)

// RedactURL returns text with the password of every URL in it replaced by
// xxxxx (http://bob:xxxxx@host), also where the URL does not parse. Errors
// of libraries that quote the URL they called pass through it before they
// are logged or shown.
func RedactURL(text string) string {
	if !strings.Contains(text, "@") {
		return text
	}
	return userinfo.ReplaceAllString(text, "${1}:xxxxx@")
}

func (c *Config) validateZoho(p *problemList) {
	z := c.Zoho
	switch {
	case z.DataCenter == "":
		p.add("", "zoho.data_center", "required: one of %s (the domain of your Zoho login: zoho.com is us, zoho.eu is eu, ...)", oneOf(dataCenters))
	case !slices.Contains(dataCenters, z.DataCenter):
		msg := fmt.Sprintf("%q is not one of %s", z.DataCenter, oneOf(dataCenters))
		if dc := suggestDataCenter(z.DataCenter); dc != "" {
			msg += fmt.Sprintf(" (write %s)", dc)
		}
		p.add("", "zoho.data_center", "%s", msg)
	}
	if !slices.Contains(environments, z.Environment) {
		p.add("", "zoho.environment", "%q is not one of %s", z.Environment, oneOf(environments))
	}
	if z.ClientID == "" {
		p.add("", "zoho.client_id", "required: the client id of your Zoho API console client")
	}
	if z.ClientSecret == "" {
		p.add("", "zoho.client_secret", "required: the client secret of your Zoho API console client")
	}
	if z.RefreshToken == "" {
		p.add("", "zoho.refresh_token", "required: get one with zohosink auth")
	}
	limit, knownEdition := zoho.EditionConcurrency(z.Edition)
	if !knownEdition {
		p.add("", "zoho.edition", "%q is not one of %s", z.Edition, oneOf(editionNames))
	}
	switch {
	case z.MaxConcurrency < 0 || z.MaxConcurrency > maxConcurrency:
		p.add("", "zoho.max_concurrency", "%d is out of range 0..%d (0 = the edition's limit)", z.MaxConcurrency, maxConcurrency)
	case knownEdition && z.MaxConcurrency > limit:
		p.add("", "zoho.max_concurrency", "%d is above the %s edition's limit of %d calls at once; Zoho would answer the excess with 429", z.MaxConcurrency, z.Edition, limit)
	}
	if z.DailyCreditBudget < 0 {
		p.add("", "zoho.daily_credit_budget", "%d: must be 0 (no budget) or more", z.DailyCreditBudget)
	}
	if z.RequestTimeout.D() <= 0 {
		p.add("", "zoho.request_timeout", "%s: must be more than 0", z.RequestTimeout)
	}
	if !(z.RequestsPerSecond >= 0) { // also NaN
		p.add("", "zoho.requests_per_second", "%v: must be 0 (no cap) or more", z.RequestsPerSecond)
	}
	for _, u := range []struct{ key, url string }{{"zoho.api_domain", z.APIDomain}, {"zoho.accounts_url", z.AccountsURL}} {
		if u.url == "" {
			continue
		}
		if msg := checkHTTPURL(u.url); msg != "" {
			p.add("", u.key, "%s", msg)
		} else if pu, _ := url.Parse(u.url); pu.User != nil {
			p.add("", u.key, "holds a user or password (user:password@): Zoho authenticates with OAuth tokens only; remove it")
		}
	}
}

// dataCenterAliases are what people write for a data center: its region,
// country, or the domain of its Zoho login (zoho.eu) after the name.
var dataCenterAliases = map[string]string{
	"usa": "us", "com": "us", "america": "us", "united states": "us", "north america": "us",
	"europe": "eu", "european union": "eu",
	"india":     "in",
	"australia": "au", "com.au": "au",
	"japan":  "jp",
	"canada": "ca",
	"china":  "cn", "com.cn": "cn",
	"saudi": "sa", "saudi arabia": "sa", "ksa": "sa",
}

// suggestDataCenter returns the data center a wrong data_center most
// likely means ("EU", "europe", "zoho.eu", "https://accounts.zoho.com.au"),
// "" when none.
func suggestDataCenter(s string) string {
	v := strings.ToLower(strings.TrimSpace(s))
	if i := strings.Index(v, "://"); i >= 0 {
		v = v[i+3:]
	}
	v = strings.TrimSuffix(v, "/")
	v = strings.Join(strings.FieldsFunc(v, func(r rune) bool { return r == '_' || r == '-' || r == ' ' }), " ")
	// A host or domain: what follows zoho. or zohoapis. names the center.
	for _, name := range []string{"zohoapis.", "zohocloud.", "zoho."} {
		if i := strings.Index(v, name); i >= 0 {
			v = v[i+len(name):]
			break
		}
	}
	if slices.Contains(dataCenters, v) {
		return v
	}
	return dataCenterAliases[v]
}

// writesNew reports whether a sync creates records, and so must map its
// module's required fields.
func writesNew(typ, mode string) bool {
	switch typ {
	case "model":
		return mode == "upsert" || mode == "insert"
	case "audience":
		return mode == "add" || mode == "mirror" || mode == "upsert"
	}
	return false
}

// CreatesRecords reports whether the sync may create Zoho records (model
// upsert and insert; audience add, mirror and upsert), and so must map its
// module's required fields.
func (s *SyncConfig) CreatesRecords() bool { return writesNew(s.Type, s.Mode) }

// needsMatch reports whether a sync must say how to find Zoho records.
func needsMatch(typ, mode string) bool {
	return typ == "audience" || (typ == "model" && (mode == "upsert" || mode == "update"))
}

func (c *Config) validateSyncs(p *problemList) {
	if len(c.Syncs) == 0 {
		p.add("", "syncs", "at least one sync is required")
		return
	}
	names := map[string]int{}
	topics := map[string]int{}
	for i := range c.Syncs {
		s := &c.Syncs[i]
		key := func(k string) string { return fmt.Sprintf("syncs[%d].%s", i, k) }
		add := func(k, format string, args ...any) { p.add(s.Name, key(k), format, args...) }

		switch j, dup := names[s.Name]; {
		case s.Name == "":
			add("name", "required: a name like contacts, used in logs, metrics and dead letters")
		case !syncNameRe.MatchString(s.Name):
			add("name", "%q may hold only a-z, 0-9, _ and -", s.Name)
		case dup:
			add("name", "%q is also the name of syncs[%d]; names must be unique", s.Name, j)
		default:
			names[s.Name] = i
		}

		if len(s.Topics) == 0 {
			add("topics", "required: list the Kafka topics of the sync")
		}
		for ti, t := range s.Topics {
			tk := fmt.Sprintf("topics[%d]", ti)
			switch j, dup := topics[t]; {
			case !topicNameRe.MatchString(t):
				add(tk, "%q is not a valid Kafka topic name ([A-Za-z0-9._-], at most 249 characters)", t)
			case t == c.Kafka.DeadLetterTopic:
				add(tk, "%q is the dead-letter topic (kafka.dead_letter_topic): a sync cannot read it", t)
			case dup && j == i:
				add(tk, "%q is listed twice", t)
			case dup:
				add(tk, "%q is also read by sync %q (syncs[%d]): a topic belongs to one sync", t, c.Syncs[j].Name, j)
			default:
				topics[t] = i
			}
		}

		info, knownModule := Module(s.Module)
		if !knownModule {
			switch suggestion := suggestModule(s.Module); {
			case s.Module == "":
				add("module", "required: one of %s", oneOf(ModuleNames))
			case suggestion != "":
				add("module", "%q is not a module; write %s (module API names are case-sensitive)", s.Module, suggestion)
			default:
				add("module", "%q is not one of %s", s.Module, oneOf(ModuleNames))
			}
		}

		typeOK := slices.Contains(syncTypes, s.Type)
		if !typeOK {
			add("type", "%q is not one of %s", s.Type, oneOf(syncTypes))
		}
		modeOK := false
		if typeOK {
			modeOK = slices.Contains(modesByType[s.Type], s.Mode)
			if !modeOK {
				msg := fmt.Sprintf("%q is not a mode of type %s: one of %s", s.Mode, s.Type, oneOf(modesByType[s.Type]))
				for t, modes := range modesByType {
					if t != s.Type && slices.Contains(modes, s.Mode) {
						msg += fmt.Sprintf(" (%s is a mode of type %s)", s.Mode, t)
					}
				}
				add("mode", "%s", msg)
			}
		}

		mapped := func(f string) bool {
			_, inFields := s.Fields[f]
			_, inConstants := s.Constants[f]
			return inFields || inConstants
		}
		for _, f := range sortedNames(s.Fields) {
			if !apiNameRe.MatchString(f) {
				add("fields."+f, "%q is not a Zoho field API name (letters, digits, _ and $, starting with a letter, e.g. Last_Name)", f)
			}
			if strings.TrimSpace(s.Fields[f]) == "" {
				add("fields."+f, "no source column: write %s: <column>", f)
			}
			if _, both := s.Constants[f]; both {
				add("constants."+f, "%s is mapped under fields and constants; keep one", f)
			}
		}
		for _, f := range sortedNames(s.Constants) {
			if !apiNameRe.MatchString(f) {
				add("constants."+f, "%q is not a Zoho field API name (letters, digits, _ and $, starting with a letter)", f)
			}
			if s.Constants[f] == nil {
				add("constants."+f, "has no value")
			}
		}

		if typeOK && modeOK && needsMatch(s.Type, s.Mode) && len(s.MatchOn) == 0 {
			hint := ""
			if knownModule {
				hint = fmt.Sprintf(" (e.g. [%s], Zoho's duplicate check field of %s)", info.DefaultMatchField, info.Name)
			}
			add("match_on", "required for %s mode %s: the Zoho fields that identify a record%s", s.Type, s.Mode, hint)
		}
		// misspelt names a mapped field that looks like f mistyped.
		misspelt := func(f string) string {
			var names []string
			for _, k := range sortedNames(s.Fields) {
				if k != f {
					names = append(names, k)
				}
			}
			for _, k := range sortedNames(s.Constants) {
				if k != f {
					names = append(names, k)
				}
			}
			for _, k := range names {
				if EditDistance(strings.ToLower(k), strings.ToLower(f)) <= 2 {
					where := "fields"
					if _, ok := s.Constants[k]; ok {
						where = "constants"
					}
					return fmt.Sprintf(" (%s maps %s, which looks alike: is one of them misspelt?)", where, k)
				}
			}
			return ""
		}
		seenMatch := map[string]bool{}
		for mi, f := range s.MatchOn {
			mk := fmt.Sprintf("match_on[%d]", mi)
			switch {
			case !apiNameRe.MatchString(f):
				add(mk, "%q is not a Zoho field API name (e.g. Email)", f)
			case seenMatch[f]:
				add(mk, "%s is listed twice", f)
			case !mapped(f):
				add(mk, "%s is not mapped, so its value is not known: map it under fields (%s: <column>) or constants%s", f, f, misspelt(f))
			}
			seenMatch[f] = true
		}

		if typeOK && modeOK && knownModule && writesNew(s.Type, s.Mode) {
			for _, f := range info.RequiredFields {
				if !mapped(f) {
					add("fields", "module %s requires %s: map it under fields (%s: <column>) or constants%s", info.Name, f, f, misspelt(f))
				}
			}
		}

		removes := s.Type == "audience" && (s.Mode == "remove" || s.Mode == "mirror")
		switch {
		case s.Type == "model" && s.RemoveAction != "":
			add("remove_action", "not allowed for model syncs (deletes are skipped); it is for audience modes remove and mirror")
		case s.Type == "audience" && modeOK && !removes && s.RemoveAction != "":
			add("remove_action", "has no effect in audience mode %s (members are never removed); it is for modes remove and mirror", s.Mode)
		case removes && s.RemoveAction == "":
			add("remove_action", "required for audience mode %s (no default): one of %s", s.Mode, oneOf(removeActions))
		case s.RemoveAction != "" && !slices.Contains(removeActions, s.RemoveAction):
			add("remove_action", "%q is not one of %s", s.RemoveAction, oneOf(removeActions))
		}
		if s.RemoveAction == "untag" && s.Tag == "" {
			add("tag", "required with remove_action untag: the Zoho tag that marks members")
		}
		if s.Type == "model" && s.Tag != "" {
			add("tag", "tags are for audience syncs; a model sync does not tag")
		}
		if s.RemoveAction == "clear_fields" && len(s.ClearFields) == 0 {
			add("clear_fields", "required with remove_action clear_fields: the fields set to null when a member leaves")
		}
		if s.RemoveAction != "clear_fields" && len(s.ClearFields) > 0 {
			add("clear_fields", "has no effect without remove_action clear_fields")
		}
		for ci, f := range s.ClearFields {
			ck := fmt.Sprintf("clear_fields[%d]", ci)
			switch {
			case !apiNameRe.MatchString(f):
				add(ck, "%q is not a Zoho field API name", f)
			case knownModule && slices.Contains(info.RequiredFields, f):
				add(ck, "%s is required by module %s and cannot be cleared", f, info.Name)
			case slices.Contains(s.MatchOn, f):
				add(ck, "%s is in match_on: a cleared record could no longer be found", f)
			}
		}

		for ti, t := range s.Trigger {
			if !slices.Contains(triggers, t) {
				add(fmt.Sprintf("trigger[%d]", ti), "%q is not one of %s", t, oneOf(triggers))
			}
		}
		for fi, f := range s.SkipFeatures {
			if !slices.Contains(zoho.SkipFeatureNames, f) {
				add(fmt.Sprintf("skip_features[%d]", fi), "%q is not one of %s", f, oneOf(zoho.SkipFeatureNames))
			}
		}
		if s.Tag != "" {
			if err := zoho.ValidateTagName(s.Tag); err != nil {
				add("tag", "%s", strings.TrimPrefix(err.Error(), "zoho: "))
			}
		}
		if s.BatchSize < 1 || s.BatchSize > 100 {
			add("batch_size", "%d is out of range 1..100 (Zoho takes at most 100 records per call)", s.BatchSize)
		}
		if d := s.Linger.D(); d <= 0 || d > MaxLinger {
			add("linger", "%s is out of range: must be more than 0 and at most %s", d, MaxLinger)
		}
		if !slices.Contains(syncFormats, s.Format) {
			add("format", "%q is not one of %s", s.Format, oneOf(syncFormats))
		}
	}
}

// suggestModule returns the module a misspelt name most likely means
// ("contacts", "Contact", "LEADS"), "" when none.
func suggestModule(name string) string {
	for _, m := range ModuleNames {
		if strings.EqualFold(m, name) || strings.EqualFold(m, name+"s") {
			return m
		}
	}
	return ""
}

// suggestKey returns the known key nearest to an unknown one, "" when none
// is close.
func suggestKey(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := EditDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// EditDistance is the edit distance of two names, a swap of two
// neighbouring letters counting as one edit (optimal string alignment):
// "Titel" is one edit from "Title". Did-you-mean suggestions use it.
func EditDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
