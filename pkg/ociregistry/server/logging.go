package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"

	"github.com/sirupsen/logrus"
)

// routeLogrus sends what distribution logs through the global logrus
// logger to logger, and nothing to logrus's own output. A client's error
// (a 4xx response: a 404 answers every existence check) is not a server
// error: 404s are logged at debug level, other 4xx at info. distribution's
// long line for every response is logged at debug level: packyard's access
// log has a short one.
func routeLogrus(logger *slog.Logger) {
	logrus.SetOutput(io.Discard)
	logrus.SetFormatter(discardFormatter{})
	logrus.SetReportCaller(false)
	logrus.SetLevel(logrus.TraceLevel)
	for _, lvl := range []slog.Level{slog.LevelDebug - 4, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if logger.Enabled(context.Background(), lvl) {
			logrus.SetLevel(logrusLevel(lvl))
			break
		}
	}
	logrus.StandardLogger().ReplaceHooks(logrus.LevelHooks{})
	logrus.AddHook(&slogHook{logger: logger})
}

func logrusLevel(l slog.Level) logrus.Level {
	switch {
	case l < slog.LevelDebug:
		return logrus.TraceLevel
	case l < slog.LevelInfo:
		return logrus.DebugLevel
	case l < slog.LevelWarn:
		return logrus.InfoLevel
	case l < slog.LevelError:
		return logrus.WarnLevel
	}
	return logrus.ErrorLevel
}

// discardFormatter formats nothing: entries reach slog through the hook,
// and logrus's output is discarded.
type discardFormatter struct{}

func (discardFormatter) Format(*logrus.Entry) ([]byte, error) { return nil, nil }

type slogHook struct{ logger *slog.Logger }

func (h *slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *slogHook) Fire(e *logrus.Entry) error {
	level := slogLevel(e.Level)
	if e.Message == "response completed" {
		// packyard's access log says it in one short line.
		level = slog.LevelDebug
	}
	if status, ok := httpStatus(e.Data["http.response.status"]); ok && status >= 400 && status < 500 {
		level = slog.LevelInfo
		if status == 404 {
			level = slog.LevelDebug
		}
	}
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if !h.logger.Enabled(ctx, level) {
		return nil
	}
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		if k != "go.version" { // the same on every line
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		v := e.Data[k]
		if err, ok := v.(error); ok {
			v = err.Error()
		}
		attrs = append(attrs, slog.Any(k, v))
	}
	h.logger.LogAttrs(ctx, level, e.Message, attrs...)
	return nil
}

func slogLevel(l logrus.Level) slog.Level {
	switch l {
	case logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel:
		return slog.LevelError
	case logrus.WarnLevel:
		return slog.LevelWarn
	case logrus.InfoLevel:
		return slog.LevelInfo
	case logrus.DebugLevel:
		return slog.LevelDebug
	}
	return slog.LevelDebug - 4
}

// httpStatus reads the response status distribution logs, an int or its
// text.
func httpStatus(v any) (int, bool) {
	switch s := v.(type) {
	case int:
		return s, true
	case nil:
		return 0, false
	}
	n, err := strconv.Atoi(fmt.Sprint(v))
	return n, err == nil
}
