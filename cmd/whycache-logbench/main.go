// Command whycache-logbench measures the log stores and prints one table:
// append throughput (1, 8 and 64 writers; 1-key and 100-key updates) with
// the raw INSERT ceiling for the SQL servers, tail read throughput, and the
// time of a history rewrite of a 1M-row log. See package logbench.
//
//	whycache-logbench [-backends=dir,mysql,postgres] [-duration=3s] [-rows=1000000]
//
// The SQL servers come from -mysql and -postgres, or from
// $WHYCACHE_TEST_MYSQL_DSN and $WHYCACHE_TEST_POSTGRES_DSN (as `make bench`
// sets them); their users must be able to create databases.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/logstore/logbench"
)

func main() {
	cfg := logbench.DefaultConfig()
	backends := flag.String("backends", strings.Join(cfg.Backends, ","), "backends to measure: dir, mysql, postgres")
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of each append measurement")
	flag.IntVar(&cfg.RewriteRows, "rows", cfg.RewriteRows, "rows of the log for the tail read and rewrite measurements")
	flag.StringVar(&cfg.MySQLDSN, "mysql", os.Getenv(testserver.EnvMySQLDSN), "go-sql-driver/mysql DSN of a server whose user may create databases")
	flag.StringVar(&cfg.PostgresDSN, "postgres", os.Getenv(testserver.EnvPostgresDSN), "pgx URL of a server whose user may create databases")
	appends := flag.Bool("appends", true, "measure appends (false: only the tail read and rewrite)")
	flag.StringVar(&cfg.Dir, "dir", "", "where the dir backend's logs go (default: a temporary directory)")
	flag.Parse()
	cfg.Backends = strings.Split(*backends, ",")
	if !*appends {
		cfg.Writers = nil
	}
	cfg.Out, cfg.Progress = os.Stdout, os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := logbench.Run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "whycache-logbench: %v\n", err)
		os.Exit(1)
	}
}
