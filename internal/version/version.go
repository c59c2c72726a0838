// Package version holds the build's version, set at link time with
// -ldflags "-X github.com/whycache/whycache/internal/version.Version=v1.2.3".
package version

import "runtime/debug"

// Version is the release version of this build, or "dev".
var Version = "dev"

// Get returns Version, or the module version recorded in the binary's build
// information when Version was not set at link time.
func Get() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}
