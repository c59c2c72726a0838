package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/logstore/logbench"
)

// scaleUsage documents the scale subcommand.
const scaleUsage = `usage: whycache-logbench scale [flags]

Simulates N nodes as N tailers of one log (each with its own store, as node
agents hold: Wait, Read pages, a heartbeat every 10 s), for each N, and
prints a markdown table of the database server's connections, CPU seconds
per second and queries per second, idle and under writes, and the time from
a write to its being applied on all N tailers.

Without -store it measures MariaDB and PostgreSQL directly (-backends), from
-mysql and -postgres or $WHYCACHE_TEST_MYSQL_DSN and
$WHYCACHE_TEST_POSTGRES_DSN; with -relays=N also through N relays in front
of each (processes of the -whycache binary's "relay" command, started and
stopped here; -direct=false measures through the relays only). With -store
(a relay://... URL of relays of your own, for example) the tailers open that
URL and the load is measured on the -server behind it.

`

func runScale(args []string) error {
	cfg := logbench.DefaultScaleConfig()
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), scaleUsage)
		fs.PrintDefaults()
	}
	nodes := fs.String("nodes", "10,100,300,1000", "numbers of simulated nodes")
	backends := fs.String("backends", "mysql,postgres", "database servers to measure directly: mysql, postgres")
	mysqlDSN := fs.String("mysql", os.Getenv(testserver.EnvMySQLDSN), "go-sql-driver/mysql DSN of the MariaDB/MySQL server")
	pgDSN := fs.String("postgres", os.Getenv(testserver.EnvPostgresDSN), "pgx URL of the PostgreSQL server")
	store := fs.String("store", "", "store URL that the tailers open instead of the database (for example relay://127.0.0.1:7480)")
	writeStore := fs.String("write-store", "", "store URL that the writer appends through (default: -store)")
	server := fs.String("server", "", "with -store: the database server behind it, mysql or postgres")
	name := fs.String("name", "", "with -store: the label of its rows (default: the store's scheme and the server)")
	relayCount := fs.Int("relays", 0, "also measure through this many relays in front of each database")
	whycache := fs.String("whycache", "bin/whycache", "with -relays: the whycache binary whose relay command runs them")
	direct := fs.Bool("direct", true, "with -relays: measure the databases directly too")
	poll := fs.Bool("relay-poll", false, "with -relays: measure through the relays with long polls too (stream=false: the agents' wait before streams)")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "how long the tailers run before the idle window")
	fs.DurationVar(&cfg.Idle, "idle", cfg.Idle, "length of the idle window")
	fs.DurationVar(&cfg.Load, "load", cfg.Load, "length of the write window")
	fs.IntVar(&cfg.Rate, "rate", cfg.Rate, "writes per second in the write window")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "how long the last writes may take to reach every tailer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if cfg.Nodes, err = logbench.ParseNodes(*nodes); err != nil {
		return err
	}
	dsns := map[logbench.ServerKind]string{logbench.ServerMySQL: *mysqlDSN, logbench.ServerPostgres: *pgDSN}
	if *store != "" {
		t, err := storeTarget(*store, *writeStore, *server, *name, dsns)
		if err != nil {
			return err
		}
		cfg.Targets = []logbench.Target{t}
	} else if cfg.Targets, err = directTargets(*backends, dsns); err != nil {
		return err
	}
	cfg.Out, cfg.Progress = os.Stdout, os.Stderr
	ctx, stop := signalContext()
	defer stop()
	if *store == "" && *relayCount > 0 {
		var running []*relays
		defer func() {
			for _, rs := range running {
				rs.stop()
			}
		}()
		var targets []logbench.Target
		for _, t := range cfg.Targets {
			log := logbench.ScaleLogName()
			rs, err := startRelays(ctx, *whycache, t.Store, log, *relayCount)
			if err != nil {
				return err
			}
			running = append(running, rs)
			if *direct {
				targets = append(targets, t)
			}
			targets = append(targets, relayTarget(t, rs, log, false))
			if *poll {
				targets = append(targets, relayTarget(t, rs, log, true))
			}
		}
		cfg.Targets = targets
	}
	_, err = logbench.RunScale(ctx, cfg)
	return err
}

// directTargets returns the targets that measure the servers themselves.
func directTargets(list string, dsns map[logbench.ServerKind]string) ([]logbench.Target, error) {
	var out []logbench.Target
	for b := range strings.SplitSeq(list, ",") {
		switch strings.TrimSpace(b) {
		case "mysql", "mariadb":
			dsn := dsns[logbench.ServerMySQL]
			if dsn == "" {
				return nil, fmt.Errorf("no MySQL DSN (set -mysql or $%s)", testserver.EnvMySQLDSN)
			}
			if _, err := mysql.ParseDSN(dsn); err != nil {
				return nil, fmt.Errorf("-mysql: %w", err)
			}
			out = append(out, logbench.Target{Name: "mariadb", Store: "mysql:" + dsn, Server: logbench.ServerMySQL, ServerDSN: dsn})
		case "postgres", "postgresql":
			dsn := dsns[logbench.ServerPostgres]
			if dsn == "" {
				return nil, fmt.Errorf("no PostgreSQL URL (set -postgres or $%s)", testserver.EnvPostgresDSN)
			}
			out = append(out, logbench.Target{Name: "postgres", Store: dsn, Server: logbench.ServerPostgres, ServerDSN: dsn})
		default:
			return nil, fmt.Errorf("-backends: unknown backend %q (want mysql or postgres)", b)
		}
	}
	return out, nil
}

// storeTarget returns the target of -store.
func storeTarget(store, writeStore, server, name string, dsns map[logbench.ServerKind]string) (logbench.Target, error) {
	kind := logbench.ServerKind(server)
	dsn, ok := dsns[kind]
	if !ok {
		return logbench.Target{}, fmt.Errorf("-server %q: want mysql or postgres, the database behind -store", server)
	}
	if dsn == "" {
		return logbench.Target{}, fmt.Errorf("-server %s: no DSN of it (set -%s)", server, map[logbench.ServerKind]string{logbench.ServerMySQL: "mysql", logbench.ServerPostgres: "postgres"}[kind])
	}
	if name == "" {
		scheme, _, _ := strings.Cut(store, ":")
		name = scheme + " → " + server
	}
	return logbench.Target{Name: name, Store: store, WriteStore: writeStore, Server: kind, ServerDSN: dsn}, nil
}
