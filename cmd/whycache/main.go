// Command whycache reads and writes whycache instances, inspects and verifies
// cache files, reads and rewrites the log, and runs the node agent. Run
// `whycache --help` for the commands.
package main

import "github.com/whycache/whycache/internal/cli"

func main() { cli.Main(cli.NewRootCommand()) }
