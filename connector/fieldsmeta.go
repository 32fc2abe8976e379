package connector

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"zohosink/zoho"
)

// loadFieldTypes gets the Zoho type of every field of the synced modules
// from the fields metadata API, all modules at once within one bound,
// falling back to built-in knowledge when the org cannot be reached. A fatal
// answer (bad token, missing scope) stops here.
func (r *Runner) loadFieldTypes(ctx context.Context) (map[string]map[string]*zoho.Field, error) {
	var mods []string
	for i := range r.cfg.Syncs {
		if m := r.cfg.Syncs[i].Module; !slices.Contains(mods, m) {
			mods = append(mods, m)
		}
	}
	metas := make([][]zoho.Field, len(mods))
	errs := make([]error, len(mods))
	if r.fieldsOf != nil {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		var wg sync.WaitGroup
		for i, mod := range mods {
			wg.Go(func() { metas[i], errs[i] = r.fieldsOf(cctx, mod) })
		}
		wg.Wait()
		cancel()
	}
	out := map[string]map[string]*zoho.Field{}
	r.fieldsMeta = map[string][]zoho.Field{}
	for i, mod := range mods {
		switch err := errs[i]; {
		case err == nil:
			r.fieldsMeta[mod] = metas[i]
		case zoho.IsFatal(err):
			var ze *zoho.Error
			if errors.As(err, &ze) && ze.Code == "OAUTH_SCOPE_MISMATCH" {
				r.log.Warn("no scope to read fields metadata: formatting values from column types", "module", mod, "hint", "add scope ZohoCRM.settings.fields.READ")
				break
			}
			return nil, err
		default:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			r.log.Warn("fields metadata unavailable: formatting values from column types until it can be read (tried again in the background)", "module", mod, "err", err)
		}
		out[mod] = fieldTypes(mod, metas[i])
	}
	return out, nil
}

// rereadFieldTypes reads, after 10s and then at most every minute, the fields metadata of the modules
// whose metadata could not be read at the start (Zoho out of reach), and
// hands it to their syncs; a mapping to a field the org does not have then
// stops the runner, as it would have at the start.
func (r *Runner) rereadFieldTypes(ctx context.Context) {
	if r.fieldsOf == nil {
		return
	}
	wait := 10 * time.Second
	for {
		var missing []string
		for i := range r.cfg.Syncs {
			m := r.cfg.Syncs[i].Module
			if _, ok := r.fieldsMeta[m]; !ok && !slices.Contains(missing, m) {
				missing = append(missing, m)
			}
		}
		if len(missing) == 0 || !sleepCtx(ctx, wait) {
			return
		}
		wait = min(2*wait, time.Minute)
		for _, mod := range missing {
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			meta, err := r.fieldsOf(cctx, mod)
			cancel()
			if err != nil {
				continue
			}
			r.fieldsMetaMu.Lock()
			r.fieldsMeta[mod] = meta
			r.fieldsMetaMu.Unlock()
			r.log.Info("fields metadata read: values are formatted by the org's field types from now on", "module", mod)
			if err := r.checkMappedFields(ctx); err != nil {
				r.fail(err)
				return
			}
			types := fieldTypes(mod, meta)
			for _, w := range r.workers {
				if w.cfg.Module == mod {
					select {
					case w.typesCh <- types:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}
}

// checkMappedFields refuses a mapping that names fields the org does not
// have: Zoho would drop their values without a word. Read-only fields are
// warned about. Modules whose metadata could not be read are not checked.
func (r *Runner) checkMappedFields(ctx context.Context) error {
	if len(r.fieldsMeta) == 0 {
		return nil
	}
	r.fieldsMetaMu.Lock()
	cfg := *r.cfg
	cfg.Syncs = nil
	for _, s := range r.cfg.Syncs {
		if _, ok := r.fieldsMeta[s.Module]; ok {
			cfg.Syncs = append(cfg.Syncs, s)
		}
	}
	r.fieldsMetaMu.Unlock()
	r.fieldsMetaMu.Lock()
	known := knownFields(maps.Clone(r.fieldsMeta))
	r.fieldsMetaMu.Unlock()
	findings, _, err := CheckOnline(ctx, &cfg, known, nil)
	if err != nil {
		return fmt.Errorf("checking the mapping against the fields metadata: %w", err)
	}
	var bad []string
	for _, f := range findings {
		switch {
		case f.Code == FindingUnknownField:
			bad = append(bad, fmt.Sprintf("sync %s: %s: %s", f.Sync, f.Key, f.Message))
		case !f.Warning:
			r.log.Warn("mapping problem", "sync", f.Sync, "key", f.Key, "problem", f.Message)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("the mapping names fields the Zoho org does not have (Zoho would drop their values): %s. Fix the config; `zohosink validate --online` lists every problem", strings.Join(bad, "; "))
}

// knownFields serves fields metadata already read.
type knownFields map[string][]zoho.Field

func (k knownFields) Fields(_ context.Context, module string) ([]zoho.Field, error) {
	return k[module], nil
}
