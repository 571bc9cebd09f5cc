package appliance

import (
	"context"
	"strings"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/appliance/lab"
	"github.com/watchfloor/watchfloor/collectors/packet"
	"github.com/watchfloor/watchfloor/console"
	"github.com/watchfloor/watchfloor/correlator"
)

// labMirror names the lab's mirror port as a capture source.
const labMirror = "lab mirror"

// obsSink takes the packet collector's observations to the correlator and to the console's
// ring of recent observations (which copies what it keeps).
type obsSink struct {
	ring   *console.ObsRing
	engine *correlator.Engine
}

var (
	_ packet.Sink   = obsSink{}
	_ packet.Source = (*lab.PacketSource)(nil)
)

func (s obsSink) HandleObservations(worker int, obs []watchfloor.Observation) {
	s.engine.HandleObservations(worker, obs)
	s.ring.Add(obs)
}

// captureName is how the wall names the packet collector's source.
func (a *Appliance) captureName() string {
	if a.labMirror != nil {
		return labMirror
	}
	return strings.Join(a.opts.Config.Packets.Interfaces, ",")
}

// runPackets runs the packet collector until ctx is done: on the configured interfaces, or
// on the lab's mirror port. The returned channel closes when it has stopped.
func (a *Appliance) runPackets(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	sink := obsSink{a.obsRing, a.engine}
	go func() {
		defer close(done)
		var err error
		if len(a.opts.Config.Packets.Interfaces) > 0 {
			err = a.packets.Run(ctx, sink)
		} else {
			err = a.packets.RunSource(ctx, labMirror, a.labMirror, sink)
		}
		if err != nil && ctx.Err() == nil {
			a.log.Error("packet collector stopped", "err", err)
		}
	}()
	return done
}

// captureStats is the packet collector's health for the wall.
func (a *Appliance) captureStats() []console.CaptureStats {
	if a.packets == nil {
		return nil
	}
	st := a.packets.Stats()
	return []console.CaptureStats{{
		Source: a.captureName(), Seen: st.Seen, Sampled: st.Sampled, Decoded: st.Decoded,
		KernelDrops: st.KernelDrops, DecodeErrors: st.DecodeErrors, Observations: st.Observations,
		SampleRate: max(a.opts.Config.Packets.SampleRate, 1),
	}}
}
