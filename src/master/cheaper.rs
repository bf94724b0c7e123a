//! Cheaper mode (--cheaper N): the master runs between N and --processes
//! workers, deciding once a second with one of uWSGI's algorithms:
//! `spare` (default: spawn when every worker has been busy for
//! --cheaper-overload seconds, stop one when two or more have been idle as
//! long), `spare2` (keep N idle workers), `backlog` (spawn when more than
//! --cheaper-overload connections wait in the listen queue), `busyness`
//! (the average share of time the workers spent on requests over each
//! --cheaper-overload window), `manual` (SIGTTIN/SIGTTOU only). Pure
//! logic: the supervisor feeds samples in and applies the decisions.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Spare,
    Spare2,
    Backlog,
    Busyness,
    Manual,
}

impl Algo {
    pub fn name(self) -> &'static str {
        match self {
            Algo::Spare => "spare",
            Algo::Spare2 => "spare2",
            Algo::Backlog => "backlog",
            Algo::Busyness => "busyness",
            Algo::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Result<Algo, String> {
        Ok(match s.trim() {
            "spare" | "" => Algo::Spare,
            "spare2" => Algo::Spare2,
            "backlog" => Algo::Backlog,
            "busyness" => Algo::Busyness,
            "manual" => Algo::Manual,
            other => return Err(format!("'{}' is not a cheaper algorithm (spare, spare2, backlog, busyness, manual)", other)),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BusynessSpec {
    /// Percentages.
    pub max: u64,
    pub min: u64,
    /// Idle windows in a row before a worker is stopped.
    pub multiplier: u64,
    /// Added to the multiplier when a stopped worker was needed again soon.
    pub penalty: u64,
    /// Listen-queue length that spawns emergency workers at once.
    pub backlog_alert: u64,
    pub backlog_multiplier: u64,
    pub backlog_step: usize,
    /// Seconds the listen queue may stay non-empty before an emergency worker.
    pub backlog_nonzero: u64,
    pub verbose: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheaperSpec {
    /// Fewest workers (spare2: idle workers to keep).
    pub min: usize,
    pub initial: usize,
    pub step: usize,
    pub overload: u64,
    pub algo: Algo,
    /// spare2: idle seconds before a worker is stopped.
    pub idle: u64,
    /// Total RSS of the workers, in bytes: no spawn past soft, stop one past hard (0: none).
    pub rss_soft: u64,
    pub rss_hard: u64,
    pub busyness: BusynessSpec,
}

impl Default for CheaperSpec {
    fn default() -> Self {
        CheaperSpec {
            min: 0,
            initial: 0,
            step: 1,
            overload: 3,
            algo: Algo::Spare,
            idle: 10,
            rss_soft: 0,
            rss_hard: 0,
            busyness: BusynessSpec {
                max: 50,
                min: 25,
                multiplier: 10,
                penalty: 1,
                backlog_alert: 33,
                backlog_multiplier: 3,
                backlog_step: 1,
                backlog_nonzero: 60,
                verbose: false,
            },
        }
    }
}

/// A running worker, as the master sees it this second.
#[derive(Debug, Clone)]
pub struct WorkerView {
    pub id: usize,
    /// Serving at least one request now.
    pub busy: bool,
    /// Microseconds spent on requests so far (cumulative).
    pub busy_us: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub active: Vec<WorkerView>,
    /// Slots with no worker that may get one.
    pub cheaped: usize,
    /// Connections waiting in the listen queues.
    pub backlog: u64,
    /// Total resident memory of the workers, in bytes.
    pub rss: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Nothing,
    Spawn(usize),
    /// Stop this worker (gracefully) and leave its slot cheap.
    Cheap(usize),
}

pub struct Cheaper {
    spec: CheaperSpec,
    ticks: u64,
    overload_count: u64,
    idle_count: u64,
    // busyness
    last_busy: std::collections::HashMap<usize, u64>,
    multiplier: u64,
    idle_windows: u64,
    non_idle_streak: u64,
    last_cheap_tick: Option<u64>,
    emergency: usize,
    backlog_since: Option<u64>,
}

impl Cheaper {
    pub fn new(spec: CheaperSpec) -> Cheaper {
        let multiplier = spec.busyness.multiplier;
        Cheaper {
            spec,
            ticks: 0,
            overload_count: 0,
            idle_count: 0,
            last_busy: Default::default(),
            multiplier,
            idle_windows: 0,
            non_idle_streak: 0,
            last_cheap_tick: None,
            emergency: 0,
            backlog_since: None,
        }
    }

    pub fn spec(&self) -> &CheaperSpec {
        &self.spec
    }

    /// Once a second: what to do.
    pub fn tick(&mut self, s: &Sample) -> Decision {
        self.ticks += 1;
        let can_spawn = s.cheaped > 0 && (self.spec.rss_soft == 0 || s.rss < self.spec.rss_soft);
        if self.spec.rss_hard > 0 && s.rss >= self.spec.rss_hard && s.active.len() > self.spec.min.max(1) {
            crate::logln!("oxwsgi: cheaper: workers use {} MB, past --cheaper-rss-limit-hard: stopping one", s.rss >> 20);
            return self.cheap(s);
        }
        let want = match self.spec.algo {
            Algo::Spare => self.spare(s),
            Algo::Spare2 => self.spare2(s),
            Algo::Backlog => self.backlog(s),
            Algo::Busyness => self.busyness(s),
            Algo::Manual => 0,
        };
        if want > 0 && can_spawn {
            Decision::Spawn((want as usize).min(s.cheaped))
        } else if want < 0 && s.active.len() > self.spec.min.max(1) {
            self.cheap(s)
        } else {
            Decision::Nothing
        }
    }

    /// The worker to stop: the last idle one (the last one if none is).
    fn cheap(&mut self, s: &Sample) -> Decision {
        self.last_cheap_tick = Some(self.ticks);
        match s.active.iter().rev().find(|w| !w.busy).or(s.active.last()) {
            Some(w) => Decision::Cheap(w.id),
            None => Decision::Nothing,
        }
    }

    fn spare(&mut self, s: &Sample) -> i64 {
        let idle = s.active.iter().filter(|w| !w.busy).count();
        match idle {
            0 => {
                self.overload_count += 1;
                self.idle_count = 0;
            }
            1 => self.overload_count = 0,
            _ => {
                self.overload_count = 0;
                self.idle_count += 1;
            }
        }
        if self.overload_count >= self.spec.overload {
            self.overload_count = 0;
            return self.spec.step as i64;
        }
        if self.idle_count >= self.spec.overload {
            self.idle_count = 0;
            return -1;
        }
        0
    }

    fn spare2(&mut self, s: &Sample) -> i64 {
        let idle = s.active.iter().filter(|w| !w.busy).count();
        if idle < self.spec.min {
            self.idle_count = 0;
            return (self.spec.min - idle).min(self.spec.step) as i64;
        }
        if idle > self.spec.min {
            self.idle_count += 1;
            if self.idle_count >= self.spec.idle {
                self.idle_count = 0;
                return -1;
            }
        } else {
            self.idle_count = 0;
        }
        0
    }

    fn backlog(&mut self, s: &Sample) -> i64 {
        if s.backlog > self.spec.overload {
            return self.spec.step as i64;
        }
        if s.backlog == 0 && s.active.iter().any(|w| !w.busy) {
            return -1;
        }
        0
    }

    fn busyness(&mut self, s: &Sample) -> i64 {
        let b = self.spec.busyness.clone();
        // Every second: the listen queue may call for emergency workers.
        if s.backlog > 0 {
            let since = *self.backlog_since.get_or_insert(self.ticks);
            let alert = s.backlog > b.backlog_alert;
            let stuck = self.ticks - since >= b.backlog_nonzero;
            if alert || stuck {
                if b.verbose {
                    crate::logln!("oxwsgi: [busyness] {} request(s) in the listen queue: spawning {} emergency worker(s)", s.backlog, b.backlog_step);
                }
                self.backlog_since = None;
                self.emergency += b.backlog_step;
                return b.backlog_step as i64;
            }
        } else {
            self.backlog_since = None;
        }
        if !self.ticks.is_multiple_of(self.spec.overload.max(1)) {
            return 0;
        }
        let window_us = self.spec.overload.max(1) * 1_000_000;
        let mut total = 0;
        for w in &s.active {
            let before = self.last_busy.insert(w.id, w.busy_us);
            let pct = before.map(|b0| w.busy_us.saturating_sub(b0) * 100 / window_us).unwrap_or(0).min(100);
            if b.verbose {
                crate::logln!("oxwsgi: [busyness] worker nr {} {}s average busyness is at {}%", w.id, self.spec.overload, pct);
            }
            total += pct;
        }
        self.last_busy.retain(|id, _| s.active.iter().any(|w| w.id == *id));
        let avg = if s.active.is_empty() { 0 } else { total / s.active.len() as u64 };
        if b.verbose {
            crate::logln!("oxwsgi: [busyness] {}s average busyness of {} worker(s) is at {}%", self.spec.overload, s.active.len(), avg);
        }
        if avg > b.max {
            // Needed again soon after a worker was stopped: be slower to stop the next.
            if let Some(t) = self.last_cheap_tick
                && self.ticks - t < self.multiplier * self.spec.overload
            {
                self.multiplier += b.penalty;
                if b.verbose {
                    crate::logln!("oxwsgi: [busyness] worker respawned too soon after being stopped: idle cycles needed now {}", self.multiplier);
                }
            }
            self.idle_windows = 0;
            self.non_idle_streak = 0;
            return self.spec.step as i64;
        }
        if avg < b.min {
            self.idle_windows += 1;
            self.non_idle_streak = 0;
            let needed = if self.emergency > 0 { b.backlog_multiplier } else { self.multiplier };
            if self.idle_windows >= needed {
                self.idle_windows = 0;
                self.emergency = self.emergency.saturating_sub(1);
                if b.verbose {
                    crate::logln!(
                        "oxwsgi: [busyness] {}s average busyness is at {}%, cheap one of {} running workers",
                        self.spec.overload,
                        avg,
                        s.active.len()
                    );
                }
                return -1;
            }
            return 0;
        }
        // Between the two: the countdown waits one more window; three in a row reset it.
        if self.idle_windows > 0 {
            self.non_idle_streak += 1;
            self.idle_windows = self.idle_windows.saturating_sub(1);
            if self.non_idle_streak >= 3 {
                self.idle_windows = 0;
                self.non_idle_streak = 0;
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(busy: &[bool], cheaped: usize) -> Sample {
        Sample { active: busy.iter().enumerate().map(|(i, b)| WorkerView { id: i + 1, busy: *b, busy_us: 0 }).collect(), cheaped, ..Default::default() }
    }

    fn spec(algo: Algo, min: usize, overload: u64) -> CheaperSpec {
        CheaperSpec { min, initial: min, overload, algo, ..Default::default() }
    }

    #[test]
    fn spare_spawns_after_overload_seconds_and_cheaps_when_idle() {
        let mut c = Cheaper::new(spec(Algo::Spare, 1, 3));
        let all_busy = sample(&[true, true], 2);
        assert_eq!(c.tick(&all_busy), Decision::Nothing);
        assert_eq!(c.tick(&all_busy), Decision::Nothing);
        assert_eq!(c.tick(&all_busy), Decision::Spawn(1));
        // Two idle workers for 3 seconds: the last idle one goes.
        let idle = sample(&[false, true, false], 1);
        assert_eq!(c.tick(&idle), Decision::Nothing);
        assert_eq!(c.tick(&idle), Decision::Nothing);
        assert_eq!(c.tick(&idle), Decision::Cheap(3));
        // One idle worker: neither counts; never below the minimum.
        let mut c = Cheaper::new(spec(Algo::Spare, 1, 1));
        assert_eq!(c.tick(&sample(&[false, true], 1)), Decision::Nothing);
        assert_eq!(c.tick(&sample(&[false], 1)), Decision::Nothing);
        // Nothing to spawn into: nothing.
        assert_eq!(c.tick(&sample(&[true], 0)), Decision::Nothing);
    }

    #[test]
    fn spare2_keeps_idle_workers() {
        let mut c = Cheaper::new(CheaperSpec { step: 2, idle: 2, ..spec(Algo::Spare2, 3, 3) });
        assert_eq!(c.tick(&sample(&[true, true, true], 5)), Decision::Spawn(2));
        assert_eq!(c.tick(&sample(&[true, false, false], 5)), Decision::Spawn(1));
        let many_idle = sample(&[false, false, false, false, true], 3);
        assert_eq!(c.tick(&many_idle), Decision::Nothing);
        assert_eq!(c.tick(&many_idle), Decision::Cheap(4));
    }

    #[test]
    fn backlog_follows_the_listen_queue() {
        let mut c = Cheaper::new(CheaperSpec { step: 2, ..spec(Algo::Backlog, 1, 5) });
        assert_eq!(c.tick(&Sample { backlog: 9, ..sample(&[true], 3) }), Decision::Spawn(2));
        assert_eq!(c.tick(&Sample { backlog: 3, ..sample(&[true, false], 2) }), Decision::Nothing);
        assert_eq!(c.tick(&Sample { backlog: 0, ..sample(&[true, false], 2) }), Decision::Cheap(2));
    }

    #[test]
    fn busyness_averages_each_window() {
        let mut c = Cheaper::new(CheaperSpec { busyness: BusynessSpec { multiplier: 2, ..CheaperSpec::default().busyness }, ..spec(Algo::Busyness, 1, 2) });
        let at = |us: u64, n: usize| Sample {
            active: (1..=n).map(|id| WorkerView { id, busy: false, busy_us: us }).collect(),
            cheaped: 4 - n,
            ..Default::default()
        };
        assert_eq!(c.tick(&at(0, 2)), Decision::Nothing);
        assert_eq!(c.tick(&at(0, 2)), Decision::Nothing); // first window: no history
        // 1.8 s busy of 2 s: 90% > 50%.
        assert_eq!(c.tick(&at(0, 2)), Decision::Nothing);
        assert_eq!(c.tick(&at(1_800_000, 2)), Decision::Spawn(1));
        // Idle for `multiplier` windows: one goes.
        for _ in 0..3 {
            assert_eq!(c.tick(&at(1_800_000, 3)), Decision::Nothing);
        }
        assert_eq!(c.tick(&at(1_800_000, 3)), Decision::Cheap(3));
        // A long listen queue calls for an emergency worker at once.
        assert_eq!(c.tick(&Sample { backlog: 40, ..at(1_800_000, 2) }), Decision::Spawn(1));
    }

    #[test]
    fn rss_limits() {
        let mut c = Cheaper::new(CheaperSpec { rss_soft: 100, rss_hard: 200, ..spec(Algo::Spare, 1, 1) });
        assert_eq!(c.tick(&Sample { rss: 150, ..sample(&[true, true], 2) }), Decision::Nothing);
        assert_eq!(c.tick(&Sample { rss: 250, ..sample(&[true, true], 2) }), Decision::Cheap(2));
        assert_eq!(c.tick(&Sample { rss: 50, ..sample(&[true, true], 2) }), Decision::Spawn(1));
    }
}
