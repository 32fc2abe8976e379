package deploy_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"zohosink/connector/config"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v3"
)

// loadCompose loads docker-compose.yml the way `docker compose` does with an
// empty shell environment and no .env file: compose-go validates it against
// the Compose Specification's schema (a key the specification lacks is an
// error), interpolates ${VAR:-default}, and normalizes it. Paths stay
// relative to deploy/.
func loadCompose(r *report) *types.Project {
	const name = "docker-compose.yml"
	data, ok := r.read(name)
	if !ok {
		return nil
	}
	opts, err := cli.NewProjectOptions([]string{r.path(name)},
		cli.WithWorkingDirectory(r.dir), cli.WithResolvedPaths(false))
	if err != nil {
		r.errorf("%s: %v", name, err)
		return nil
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		r.errorf("%s: not a valid Compose file: %v", name, err)
		return nil
	}
	// Compose substitutes an empty string for a variable that is unset and
	// has no default, with a warning nobody reads: the stack must start
	// with nothing exported, so every variable has a default. A lone $ in
	// a shell script is such a variable too (escape it as $$).
	var model map[string]any
	if err := yaml.Unmarshal(data, &model); err != nil {
		r.errorf("%s: %v", name, err)
		return nil
	}
	vars := template.ExtractVariables(model, nil)
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if v := vars[n]; v.DefaultValue == "" && !v.Required {
			r.errorf("%s: ${%s} has no default: with the variable unset Compose writes an empty string (write ${%s:-value}, or $$ for a literal $)", name, n, n)
		}
	}
	return p
}

func init() {
	// compose-go logs an unset variable as a warning; loadCompose reports
	// it as a problem of the file instead.
	logrus.SetOutput(io.Discard)
}

func hostPort(r *report, where, hp string) (string, string, bool) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		r.errorf("%s: %q is not host:port: %v", where, hp, err)
		return "", "", false
	}
	return h, p, true
}

func urlHostPort(raw string) (string, string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", "", false
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Hostname(), port, true
}

// publishes reports whether a service publishes container port p.
func publishes(ports []types.ServicePortConfig, p string) bool {
	return slices.ContainsFunc(ports, func(pc types.ServicePortConfig) bool {
		return strconv.Itoa(int(pc.Target)) == p && pc.Published != ""
	})
}

func isLoopback(host string) bool {
	return host == "localhost" || (net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback())
}

// bindMount returns the source (relative to deploy/) of the bind mount at
// target, or "".
func bindMount(volumes []types.ServiceVolumeConfig, target string) string {
	for _, v := range volumes {
		if v.Type == types.VolumeTypeBind && v.Target == target {
			return path.Clean(filepath.ToSlash(v.Source))
		}
	}
	return ""
}

// env returns a service's environment (Compose interpolated it already).
func env(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// drainTimeout returns --drain-timeout in args, or its default.
func drainTimeout(args []string) (time.Duration, error) {
	if v := flagValue(args, "drain-timeout"); v != "" {
		return time.ParseDuration(v)
	}
	return 30 * time.Second, nil
}

// checkCompose checks the local stack: docker-compose.yml, the zohosink
// config it mounts, the Debezium connector it registers and the warehouse
// schema it creates, against each other.
func checkCompose(r *report) {
	const name = "docker-compose.yml"
	c := loadCompose(r)
	if c == nil {
		return
	}
	for _, want := range []string{"kafka", "schema-registry", "postgres", "connect", "register-connector", "zoho-sim", "zohosink"} {
		if _, ok := c.Services[want]; !ok {
			r.errorf("%s: no service %s", name, want)
			return
		}
	}
	for sname, s := range c.Services {
		where := name + ": service " + sname
		if s.Image == "" && s.Build == nil {
			r.errorf("%s: neither image nor build", where)
		}
		if s.Build != nil {
			df := path.Join(s.Build.Context, cmpOr(s.Build.Dockerfile, "Dockerfile"))
			if !r.exists(df) {
				r.errorf("%s: build: %s does not exist (relative to deploy/)", where, df)
			}
		}
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				r.errorf("%s: depends_on %s, which is not a service", where, dep)
			case d.Condition == types.ServiceConditionHealthy && target.HealthCheck == nil:
				r.errorf("%s: depends_on %s: service_healthy, but %s has no healthcheck (it would never be healthy)", where, dep, dep)
			}
		}
		if h := s.HealthCheck; h != nil && !h.Disable {
			if len(h.Test) < 2 || (h.Test[0] != "CMD" && h.Test[0] != "CMD-SHELL") {
				r.errorf("%s: healthcheck test %q must start with CMD or CMD-SHELL", where, h.Test)
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind && !r.exists(v.Source) {
				r.errorf("%s: volume %s:%s: %s does not exist (relative to deploy/)", where, v.Source, v.Target, v.Source)
			}
		}
		if s.Restart != "" && !slices.Contains([]string{"no", "always", "on-failure", "unless-stopped"}, strings.Split(s.Restart, ":")[0]) {
			r.errorf("%s: restart %q is not a restart policy", where, s.Restart)
		}
	}

	// Kafka: the address compose services use must be advertised.
	kafkaEnv := env(c.Services["kafka"])
	if kafkaEnv["KAFKA_PROCESS_ROLES"] == "" || kafkaEnv["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "" {
		r.errorf("%s: kafka: not in KRaft mode (KAFKA_PROCESS_ROLES, KAFKA_CONTROLLER_QUORUM_VOTERS)", name)
	}
	advertised := kafkaEnv["KAFKA_ADVERTISED_LISTENERS"]
	if id, err := base64.RawURLEncoding.DecodeString(kafkaEnv["CLUSTER_ID"]); err != nil || len(id) != 16 {
		r.errorf("%s: kafka: CLUSTER_ID %q is not a KRaft cluster id (16 bytes in base64url, no padding): the broker would not format its storage", name, kafkaEnv["CLUSTER_ID"])
	}

	// PostgreSQL: logical decoding and the sample schema.
	pg := c.Services["postgres"]
	if !slices.ContainsFunc(pg.Command, func(a string) bool { return strings.Contains(a, "wal_level=logical") }) {
		r.errorf("%s: postgres: command %q does not set wal_level=logical", name, pg.Command)
	}
	initSQL := ""
	for _, v := range pg.Volumes {
		if strings.HasPrefix(v.Target, "/docker-entrypoint-initdb.d/") && strings.HasSuffix(v.Source, ".sql") {
			initSQL = path.Clean(filepath.ToSlash(v.Source))
		}
	}
	if initSQL == "" {
		r.errorf("%s: postgres: no .sql file mounted in /docker-entrypoint-initdb.d/", name)
		return
	}
	tables := parseTables(r, initSQL)

	// The Debezium connector: registered by the one-shot, pointed at the
	// compose services.
	const connName = "debezium/postgres-connector.json"
	conn, ok := readConnector(r)
	if !ok {
		return
	}
	reg := c.Services["register-connector"]
	if bindMount(reg.Volumes, "/connector.json") != connName {
		r.errorf("%s: register-connector does not mount ./%s at /connector.json", name, connName)
	}
	if !strings.Contains(strings.Join(reg.Command, " "), "connect:8083/connectors") {
		r.errorf("%s: register-connector does not call the Connect REST API at connect:8083/connectors", name)
	}
	if dep, ok := reg.DependsOn["connect"]; !ok || dep.Condition != types.ServiceConditionHealthy {
		r.errorf("%s: register-connector must wait for connect to be healthy", name)
	}
	if h := conn.Config["database.hostname"]; c.Services[h].Image == "" && c.Services[h].Build == nil {
		r.errorf("%s: database.hostname %q is not a compose service", connName, h)
	}
	pgEnv := env(pg)
	for k, envKey := range map[string]string{"database.dbname": "POSTGRES_DB", "database.user": "POSTGRES_USER", "database.password": "POSTGRES_PASSWORD"} {
		if conn.Config[k] != pgEnv[envKey] {
			r.errorf("%s: %s does not match the postgres service's %s", connName, k, envKey)
		}
	}
	for _, k := range []string{"key.converter.schema.registry.url", "value.converter.schema.registry.url"} {
		if h, p, _ := urlHostPort(conn.Config[k]); h != "schema-registry" || p != "8081" {
			r.errorf("%s: %s = %s, want the schema-registry service (http://schema-registry:8081)", connName, k, conn.Config[k])
		}
	}
	included := strings.Split(conn.Config["table.include.list"], ",")

	// The simulator: reachable, with the demo credentials.
	sim := c.Services["zoho-sim"]
	if len(sim.Command) == 0 || sim.Command[0] != "zoho-sim" {
		r.errorf("%s: zoho-sim: command %q, want zoho-sim --listen ...", name, sim.Command)
		return
	}
	simHost, simPort, ok := hostPort(r, name+": zoho-sim --listen", flagValue(sim.Command, "listen"))
	if !ok {
		return
	}
	if isLoopback(simHost) {
		r.errorf("%s: zoho-sim listens on %s: unreachable from other containers", name, simHost)
	}

	// zohosink: the config it runs with.
	zs := c.Services["zohosink"]
	if len(zs.Command) == 0 || zs.Command[0] != "run" {
		r.errorf("%s: zohosink: command %q, want run --config FILE", name, zs.Command)
		return
	}
	cfgPath := configFlag(zs.Command)
	src := bindMount(zs.Volumes, cfgPath)
	if src == "" {
		r.errorf("%s: zohosink: --config %s is not bind-mounted from a file of deploy/", name, cfgPath)
		return
	}
	for _, dep := range []string{"kafka", "schema-registry", "zoho-sim"} {
		if _, ok := zs.DependsOn[dep]; !ok {
			r.errorf("%s: zohosink does not depend on %s", name, dep)
		}
	}
	drain, err := drainTimeout(zs.Command)
	if err != nil {
		r.errorf("%s: zohosink: --drain-timeout: %v", name, err)
		return
	}
	grace := 10 * time.Second // docker's default
	if zs.StopGracePeriod != nil {
		grace = time.Duration(*zs.StopGracePeriod)
	}
	if grace <= drain {
		r.errorf("%s: zohosink: stop_grace_period %s is not above the drain timeout %s: docker would kill zohosink mid-drain", name, grace, drain)
	}
	data, ok := r.read(src)
	if !ok {
		return
	}
	cfg := checkZohosinkConfig(r, src+" (with docker-compose.yml's environment)", data, env(zs))
	if cfg == nil {
		return
	}
	where := src + " (with docker-compose.yml's environment)"
	for _, b := range cfg.Kafka.Brokers {
		h, _, ok := hostPort(r, where+": kafka.brokers", b)
		if !ok {
			continue
		}
		if _, ok := c.Services[h]; !ok {
			r.errorf("%s: kafka.brokers: %s is not a compose service", where, b)
		}
		if !strings.Contains(advertised, "//"+b) {
			r.errorf("%s: kafka.brokers: %s is not in kafka's KAFKA_ADVERTISED_LISTENERS %q", where, b, advertised)
		}
	}
	if h, _, _ := urlHostPort(cfg.SchemaRegistry.URL); h != "schema-registry" {
		r.errorf("%s: schema_registry.url %s is not the schema-registry service", where, cfg.SchemaRegistry.URL)
	}
	for key, u := range map[string]string{"zoho.api_domain": cfg.Zoho.APIDomain, "zoho.accounts_url": cfg.Zoho.AccountsURL} {
		if u == "" {
			r.errorf("%s: %s is empty: by default the stack must write to zoho-sim, not a real org", where, key)
			continue
		}
		if h, p, _ := urlHostPort(u); h != "zoho-sim" || p != simPort {
			r.errorf("%s: %s = %s, want http://zoho-sim:%s", where, key, u, simPort)
		}
	}
	// Secrets are compared, never printed.
	if cfg.Zoho.ClientID != flagValue(sim.Command, "client-id") ||
		cfg.Zoho.ClientSecret.Reveal() != flagValue(sim.Command, "client-secret") ||
		cfg.Zoho.RefreshToken.Reveal() != flagValue(sim.Command, "refresh-token") {
		r.errorf("%s: zoho client_id, client_secret or refresh_token differ from the credentials zoho-sim is started with", where)
	}
	listenHost, listenPort, ok := hostPort(r, where+": http.listen", cfg.HTTP.Listen)
	if ok && isLoopback(listenHost) {
		r.errorf("%s: http.listen %s is loopback: the published port would reach nothing", where, cfg.HTTP.Listen)
	}
	if ok && !publishes(zs.Ports, listenPort) {
		r.errorf("%s: zohosink: ports do not publish http.listen's port %s", name, listenPort)
	}
	if !publishes(sim.Ports, simPort) {
		r.errorf("%s: zoho-sim: ports do not publish its --listen port %s", name, simPort)
	}
	if img, ok := zohosinkImage(&report{dir: r.dir}); ok && cfgPath != configFlag(img.cmd) {
		r.errorf("%s: zohosink --config %s differs from the image's default %s", name, cfgPath, configFlag(img.cmd))
	}
	if tables != nil {
		checkSyncsAgainstWarehouse(r, where, cfg, conn, included, tables)
	}

	// The expected syncs of the local stack.
	want := map[string]string{ // topic -> module/type/mode/match_on
		"warehouse.public.customers":          "Contacts/model/upsert/Email",
		"warehouse.public.leads":              "Leads/model/upsert/Email",
		"warehouse.public.companies":          "Accounts/model/upsert/Account_Name",
		"warehouse.public.opportunities":      "Deals/model/upsert/Deal_Name",
		"warehouse.public.newsletter_members": "Contacts/audience/mirror/Email",
	}
	for _, s := range cfg.Syncs {
		for _, topic := range s.Topics {
			got := fmt.Sprintf("%s/%s/%s/%s", s.Module, s.Type, s.Mode, strings.Join(s.MatchOn, ","))
			if w, ok := want[topic]; ok && got != w {
				r.errorf("%s: sync %q on %s is %s, want %s", where, s.Name, topic, got, w)
			}
			delete(want, topic)
		}
		if s.Type == "audience" && (s.RemoveAction != "untag" || s.Tag != "Newsletter") {
			r.errorf("%s: sync %q: remove_action %q tag %q, want untag and Newsletter", where, s.Name, s.RemoveAction, s.Tag)
		}
	}
	for topic := range want {
		r.errorf("%s: no sync reads %s", where, topic)
	}
}

func TestComposeStack(t *testing.T) { check(t, checkCompose, nil) }

// ---- Debezium connector -----------------------------------------------------

// connectorFile is the body of Kafka Connect's POST /connectors.
type connectorFile struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
}

func readConnector(r *report) (connectorFile, bool) {
	const name = "debezium/postgres-connector.json"
	var c connectorFile
	data, ok := r.read(name)
	if !ok {
		return c, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		r.errorf("%s: not a Connect REST API connector ({\"name\", \"config\": {string: string}}): %v", name, err)
		return c, false
	}
	if c.Name == "" {
		r.errorf("%s: name is empty", name)
	}
	want := map[string]string{
		"connector.class":       "io.debezium.connector.postgresql.PostgresConnector",
		"plugin.name":           "pgoutput",
		"key.converter":         "io.confluent.connect.avro.AvroConverter",
		"value.converter":       "io.confluent.connect.avro.AvroConverter",
		"decimal.handling.mode": "precise",
		"time.precision.mode":   "adaptive",
		"tombstones.on.delete":  "true",
		"topic.prefix":          "warehouse",
	}
	for k, v := range want {
		if got := c.Config[k]; got != v {
			r.errorf("%s: %s is %q, want %q", name, k, got, v)
		}
	}
	for _, k := range []string{"key.converter.schema.registry.url", "value.converter.schema.registry.url", "table.include.list", "database.hostname", "database.dbname"} {
		if c.Config[k] == "" {
			r.errorf("%s: %s is not set", name, k)
		}
	}
	return c, true
}

// ---- the sample warehouse ---------------------------------------------------

// sqlTable is a table of the sample schema.
type sqlTable struct {
	columns         []string
	replicaIdentity string // FULL, or "" for the default (primary key only)
}

var (
	createTable = regexp.MustCompile(`(?is)CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:public\.)?(\w+)\s*\((.*?)\)\s*;`)
	replicaFull = regexp.MustCompile(`(?i)ALTER\s+TABLE\s+(?:public\.)?(\w+)\s+REPLICA\s+IDENTITY\s+FULL`)
	sqlComment  = regexp.MustCompile(`--[^\n]*`)
)

// parseTables reads the CREATE TABLE statements of an init SQL file.
func parseTables(r *report, name string) map[string]*sqlTable {
	data, ok := r.read(name)
	if !ok {
		return nil
	}
	sql := sqlComment.ReplaceAllString(string(data), "")
	tables := map[string]*sqlTable{}
	for _, m := range createTable.FindAllStringSubmatch(sql, -1) {
		tb := &sqlTable{}
		for _, def := range strings.Split(m[2], ",\n") {
			col := strings.Fields(strings.ToLower(def))
			if len(col) == 0 || slices.Contains([]string{"primary", "unique", "constraint", "foreign", "check"}, col[0]) {
				continue
			}
			tb.columns = append(tb.columns, strings.Trim(col[0], `"`))
		}
		tables[strings.ToLower(m[1])] = tb
	}
	for _, m := range replicaFull.FindAllStringSubmatch(sql, -1) {
		if tb, ok := tables[strings.ToLower(m[1])]; ok {
			tb.replicaIdentity = "FULL"
		}
	}
	if len(tables) == 0 {
		r.errorf("%s: no CREATE TABLE statement", name)
		return nil
	}
	return tables
}

// checkSyncsAgainstWarehouse checks each sync's topics against the Debezium
// connector (prefix, included tables) and the sample schema (columns mapped
// exist; audience removals can see the matched columns of deleted rows).
func checkSyncsAgainstWarehouse(r *report, where string, cfg *config.Config, conn connectorFile, included []string, tables map[string]*sqlTable) {
	prefix := conn.Config["topic.prefix"]
	for _, s := range cfg.Syncs {
		for _, topic := range s.Topics {
			parts := strings.Split(topic, ".")
			if len(parts) != 3 || parts[0] != prefix {
				r.errorf("%s: sync %q: topic %s is not <topic.prefix %s>.<schema>.<table> as Debezium names it", where, s.Name, topic, prefix)
				continue
			}
			if !slices.Contains(included, parts[1]+"."+parts[2]) {
				r.errorf("%s: sync %q: table %s.%s is not in the connector's table.include.list %v", where, s.Name, parts[1], parts[2], included)
			}
			tb, ok := tables[parts[2]]
			if !ok {
				r.errorf("%s: sync %q: table %s is not created by the init SQL", where, s.Name, parts[2])
				continue
			}
			for field, col := range s.Fields {
				if !slices.Contains(tb.columns, strings.ToLower(col)) {
					r.errorf("%s: sync %q: fields.%s maps column %q, which table %s lacks (it has %s)", where, s.Name, field, col, parts[2], strings.Join(tb.columns, ", "))
				}
			}
			if s.Type == "audience" && (s.Mode == "mirror" || s.Mode == "remove") && tb.replicaIdentity != "FULL" {
				r.errorf("%s: sync %q: table %s needs REPLICA IDENTITY FULL: a delete must carry %v to find the Zoho record", where, s.Name, parts[2], s.MatchOn)
			}
		}
	}
}
