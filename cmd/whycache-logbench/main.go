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
//
//	whycache-logbench scale [-nodes=10,100,300,1000] [-store=URL -server=mysql|postgres]
//
// measures the fan-in of N simulated nodes on the database servers instead
// (`make bench-scale`; see scaleUsage).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/logstore/logbench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "scale" {
		if err := runScale(os.Args[2:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				os.Exit(2)
			}
			fmt.Fprintf(os.Stderr, "whycache-logbench scale: %v\n", err)
			os.Exit(1)
		}
		return
	}
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
	ctx, stop := signalContext()
	defer stop()
	if _, err := logbench.Run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "whycache-logbench: %v\n", err)
		os.Exit(1)
	}
}

// signalContext returns a context that ends at SIGINT or SIGTERM (as
// testservers passes on an interrupt).
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
