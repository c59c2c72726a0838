// Command testservers starts the servers that the tests and benchmarks need
// (MariaDB, PostgreSQL, Redis, an S3 server) on 127.0.0.1, runs a command with their
// addresses in the environment, and stops them when the command ends:
//
//	go run ./hack/testservers -servers=mariadb,postgres -- go test ./...
//
// A server whose environment variable is already set (a developer's own) is
// not started. The command's exit status is passed on.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/whycache/whycache/internal/testserver"
)

func main() {
	servers := flag.String("servers", "mariadb,postgres", "comma-separated servers to start: mariadb, postgres, redis, s3")
	maxConns := flag.Int("max-connections", 0, "max_connections of MariaDB and PostgreSQL (0: the default, 1000 and 400)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: testservers [-servers=mariadb,postgres,redis,s3] [-max-connections=N] -- command [args...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	os.Exit(run(*servers, *maxConns, flag.Args()))
}

func run(servers string, maxConns int, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var running []*testserver.Server
	defer func() {
		for _, s := range running {
			if err := s.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "testservers: %v\n", err)
			}
		}
	}()
	env := os.Environ()
	for _, kind := range strings.Split(servers, ",") {
		kind = strings.TrimSpace(kind)
		var start func(context.Context, string) (*testserver.Server, error)
		var vars func(*testserver.Server) []string
		switch kind {
		case "":
			continue
		case "mariadb", "mysql":
			if os.Getenv(testserver.EnvMySQLDSN) != "" {
				continue
			}
			start = func(ctx context.Context, base string) (*testserver.Server, error) {
				return testserver.StartMariaDB(ctx, base, testserver.WithMaxConnections(maxConns))
			}
			vars = func(s *testserver.Server) []string { return []string{testserver.EnvMySQLDSN + "=" + s.DSN} }
		case "postgres", "postgresql":
			if os.Getenv(testserver.EnvPostgresDSN) != "" {
				continue
			}
			start = func(ctx context.Context, base string) (*testserver.Server, error) {
				return testserver.StartPostgres(ctx, base, testserver.WithMaxConnections(maxConns))
			}
			vars = func(s *testserver.Server) []string { return []string{testserver.EnvPostgresDSN + "=" + s.DSN} }
		case "redis":
			if os.Getenv(testserver.EnvRedisAddr) != "" {
				continue
			}
			start = testserver.StartRedis
			vars = func(s *testserver.Server) []string {
				return []string{testserver.EnvRedisAddr + "=" + s.Addr, testserver.EnvRedisSocket + "=" + s.Socket}
			}
		case "s3":
			if os.Getenv(testserver.EnvS3Endpoint) != "" {
				continue
			}
			start = testserver.StartS3
			vars = (*testserver.Server).S3Env
		default:
			fmt.Fprintf(os.Stderr, "testservers: unknown server %q\n", kind)
			return 2
		}
		s, err := start(ctx, "")
		if err != nil {
			fmt.Fprintf(os.Stderr, "testservers: %v\n", err)
			return 1
		}
		running = append(running, s)
		fmt.Fprintf(os.Stderr, "testservers: %s listening on %s (data in %s)\n", s.Kind, s.Addr, s.Dir)
		env = append(env, vars(s)...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.Env = os.Stdin, os.Stdout, os.Stderr, env
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() > 0 {
			return exit.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "testservers: %v\n", err)
		return 1
	}
	return 0
}
