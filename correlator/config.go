package correlator

import (
	"fmt"
	"time"

	"github.com/watchfloor/watchfloor/correlator/window"
)

// Config is the correlator's configuration (the `correlator` section).
type Config struct {
	// Site names the site of alerts whose matches carry none (a correlation's firing is not
	// a record); the appliance sets it to its own.
	Site string `yaml:"-"`
	// Lateness is how far behind the newest record time (event time) a record may arrive and
	// still count in correlation windows; later ones are dropped and counted.
	Lateness time.Duration `yaml:"lateness"`
	// QueueSize is the number of batches of matches waiting for the engine's goroutine. When
	// it is full, a collector's batch of matches is dropped and counted; collectors never block.
	QueueSize int `yaml:"queue_size"`
	// TickInterval is how often (wall clock) windows and alerts are advanced: by event time
	// while records come in, by the wall clock while none do (so absences fire).
	TickInterval time.Duration `yaml:"tick_interval"`
	// RefreshInterval is the least event time between two updates of one alert by a rule
	// that keeps matching (title, description and evidence are rendered at most that often).
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// Window bounds each correlation's state (groups, distinct values, bytes). Its lateness
	// is Lateness.
	Window window.Config `yaml:"window"`
}

// DefaultConfig returns the defaults: 30 s of lateness, 4096 queued batches, a tick a second,
// an alert refreshed at most once a second, window.DefaultConfig per correlation.
func DefaultConfig() Config {
	return Config{
		Lateness:        30 * time.Second,
		QueueSize:       4096,
		TickInterval:    time.Second,
		RefreshInterval: time.Second,
		Window:          window.DefaultConfig(),
	}
}

// FieldError is a configuration problem named by its YAML path.
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate returns every problem of c.
func (c Config) Validate() []FieldError {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	if c.Lateness < 0 || c.Lateness > time.Hour {
		bad("lateness", "must be between 0 and 1h, got %s", c.Lateness)
	}
	if c.QueueSize < 1 || c.QueueSize > 1<<20 {
		bad("queue_size", "must be between 1 and %d, got %d", 1<<20, c.QueueSize)
	}
	if c.TickInterval < 10*time.Millisecond || c.TickInterval > time.Minute {
		bad("tick_interval", "must be between 10ms and 1m, got %s", c.TickInterval)
	}
	if c.RefreshInterval < 0 || c.RefreshInterval > time.Hour {
		bad("refresh_interval", "must be between 0 and 1h, got %s", c.RefreshInterval)
	}
	w := c.Window
	w.Lateness = c.Lateness
	for _, e := range w.Validate() {
		bad("window."+e.Field, "%s", e.Msg)
	}
	return errs
}
