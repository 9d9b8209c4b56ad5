package install

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long the watcher waits after the last file event before it
// syncs: agents write in bursts (temp file, rename, chmod), and a file read
// mid-write is invalid JSON that must not make us pick another primary.
const settle = 100 * time.Millisecond

// watcher turns file events in the watched dirs into sync calls.
type watcher struct {
	log  *slog.Logger
	fs   *fsnotify.Watcher
	dirs []string
}

func newWatcher(log *slog.Logger, dirs []string) (*watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("starting the file watcher: %w", err)
	}
	w := &watcher{log: log, fs: fsw, dirs: dirs}
	for _, d := range dirs {
		if err := fsw.Add(d); err != nil {
			fsw.Close()
			return nil, fmt.Errorf("watching %s: %w", d, err)
		}
	}
	return w, nil
}

func (w *watcher) close() { w.fs.Close() }

// rewatch adds the dirs again: a dir that was removed and created anew
// has lost its inotify watch.
func (w *watcher) rewatch() {
	for _, d := range w.dirs {
		if err := w.fs.Add(d); err != nil {
			w.log.Warn("cannot watch directory; relying on the periodic check", "dir", d, "error", err.Error())
		}
	}
}

// loop calls sync after each burst of events and every resync, until ctx
// is done; and at once for an event urgent says cannot wait for the burst
// to settle.
func (w *watcher) loop(ctx context.Context, resync time.Duration, sync func(), urgent func(path string) bool) {
	tick := time.NewTicker(resync)
	defer tick.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			w.log.Debug("file event", "file", ev.Name, "op", ev.Op.String())
			if urgent(ev.Name) {
				sync()
			}
			debounce.Reset(settle)
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.log.Warn("file watcher error; relying on the periodic check", "error", err.Error())
		case <-debounce.C:
			sync()
		case <-tick.C:
			w.rewatch()
			sync()
		}
	}
}
