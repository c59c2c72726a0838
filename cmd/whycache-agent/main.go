// Command whycache-agent is the whycache node agent: it keeps an instance's
// memory-mapped cache file up to date from the log and serves the node's
// writes. Run `whycache-agent --help` for its flags; each has a WHYCACHE_*
// environment variable.
package main

import (
	"github.com/whycache/whycache/internal/cli"
	"github.com/whycache/whycache/internal/version"
)

func main() {
	cmd := cli.NewAgentCommand()
	cmd.Use = "whycache-agent"
	cmd.Version = version.Get()
	cli.Main(cmd)
}
