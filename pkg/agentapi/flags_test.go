package agentapi

import "testing"

func TestEnvName(t *testing.T) {
	for _, tc := range []struct{ flag, want string }{
		{FlagStore, "WHYCACHE_STORE"},
		{FlagMaxLagIDs, "WHYCACHE_MAX_LAG_IDS"},
		{FlagLogName, "WHYCACHE_LOG_NAME"},
		{FlagVerbosity, "WHYCACHE_V"},
	} {
		if got := EnvName(tc.flag); got != tc.want {
			t.Errorf("EnvName(%q) = %q, want %q", tc.flag, got, tc.want)
		}
	}
}
