package zohotest

import "sort"

// AccessTokens returns every access token the simulator issued that is
// still known to it (not revoked or expired by the test), so a test can
// check that none of them leaks into logs or output.
func (s *Simulator) AccessTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.oauth.access))
	for t := range s.oauth.access {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
