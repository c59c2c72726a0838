package testserver

// Option changes how StartMariaDB or StartPostgres starts a server.
type Option func(*options)

type options struct {
	maxConnections int
}

// Default connection limits: enough for the tests, which run many packages'
// stores against one server at once.
const (
	defaultMariaDBMaxConnections  = 1000
	defaultPostgresMaxConnections = 400
)

// WithMaxConnections sets the server's max_connections (n <= 0 keeps the
// default). The fan-in benchmark, which opens a store per simulated node,
// needs more than the tests do.
func WithMaxConnections(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxConnections = n
		}
	}
}

func buildOptions(def int, opts []Option) options {
	o := options{maxConnections: def}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
