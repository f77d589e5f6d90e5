//! Executor tests on the in-memory cloud with injected per-call latency: concurrency
//! at the critical path, the parallelism bound, progress lines, failure handling.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::fake::FakeCloud;
use super::{execute, ExecOptions};
use crate::changeset::diff;
use crate::plan::{validate_source, Plan};
use crate::render::Progress;

const STUDIO: &str = include_str!("../../plans/studio-vpc.toml");

fn studio(name: &str) -> Plan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/test.toml");
    validate_source(&path, &STUDIO.replace("ml-platform", name)).unwrap()
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test]
async fn wall_time_is_close_to_the_critical_path() {
    let latency = Duration::from_millis(60);
    let cloud = Arc::new(FakeCloud::new(latency));
    let plan = studio("e1");
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    let bound = latency * cs.critical_path_len() as u32;
    let t = Instant::now();
    let r = execute(
        &cs,
        cloud.clone(),
        &ExecOptions::default(),
        &Progress::to(Box::new(std::io::sink())),
    )
    .await;
    let wall = t.elapsed();
    assert!(r.errors.is_empty());
    let serial = latency * cs.nodes.len() as u32;
    assert!(
        wall.as_secs_f64() <= bound.as_secs_f64() * 1.3 + 0.05,
        "wall {wall:?} vs critical path bound {bound:?} ({} nodes, serial would be {serial:?})",
        cs.nodes.len()
    );
    // The measured chain: every node on it took at least the latency, and no schedule
    // beats it.
    let m = r.measured_critical_path;
    assert!(m >= bound, "measured chain {m:?} < nominal {bound:?}");
    assert!(m <= wall, "measured chain {m:?} > wall {wall:?}");
    assert!(m < bound * 2, "measured chain {m:?} far above {bound:?}");
}

#[tokio::test]
async fn parallelism_bounds_concurrent_calls() {
    let latency = Duration::from_millis(20);
    let cloud = Arc::new(FakeCloud::new(latency));
    let plan = studio("e2");
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    let opts = ExecOptions {
        parallelism: 1,
        ..ExecOptions::default()
    };
    let t = Instant::now();
    let r = execute(
        &cs,
        cloud.clone(),
        &opts,
        &Progress::to(Box::new(std::io::sink())),
    )
    .await;
    assert!(r.errors.is_empty());
    let serial = latency * cs.nodes.len() as u32;
    assert!(
        t.elapsed() >= serial,
        "one at a time: {:?} < {serial:?}",
        t.elapsed()
    );
    // Queueing for the one slot is not part of any node's duration: the measured chain
    // stays near the nominal one while the wall time is serial.
    let nominal = latency * cs.critical_path_len() as u32;
    assert!(
        r.measured_critical_path < nominal * 2 && r.measured_critical_path * 3 < t.elapsed(),
        "measured chain {:?}, nominal {nominal:?}, wall {:?}",
        r.measured_critical_path,
        t.elapsed()
    );
}

#[tokio::test]
async fn progress_lines_name_resource_elapsed_and_id() {
    let cloud = Arc::new(FakeCloud::new(Duration::from_millis(250)));
    let plan = studio("e3");
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    let buf = Buf::default();
    let opts = ExecOptions {
        progress_interval: Duration::from_millis(100),
        ..ExecOptions::default()
    };
    let r = execute(
        &cs,
        cloud.clone(),
        &opts,
        &Progress::to(Box::new(buf.clone())),
    )
    .await;
    assert!(r.errors.is_empty());
    let out = buf.text();
    assert!(out.contains("vpc.main: Creating..."), "{out}");
    assert!(
        out.contains("vpc.main: Still creating... [0s elapsed]"),
        "{out}"
    );
    let created = out
        .lines()
        .find(|l| l.starts_with("vpc.main: Created after"))
        .expect(&out);
    assert!(created.contains("[id=vpc-"), "{created}");
    // The VPC is done only after its DNS attribute: two calls of 250 ms.
    let secs: f64 = created["vpc.main: Created after ".len()..]
        .split('s')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(secs >= 0.5, "{created}");
}

#[tokio::test]
async fn a_failure_stops_new_work_and_names_the_resource() {
    let cloud = Arc::new(FakeCloud::default());
    let plan = studio("e4");
    let mut cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    // Make one subnet collide: the fake refuses overlapping CIDRs.
    for n in &mut cs.nodes {
        if let crate::changeset::Op::Subnet(crate::resources::subnet::Op::Create { cidr, .. }) =
            &mut n.op
        {
            *cidr = "10.20.0.0/20".into();
        }
    }
    let buf = Buf::default();
    let r = execute(
        &cs,
        cloud.clone(),
        &ExecOptions::default(),
        &Progress::to(Box::new(buf.clone())),
    )
    .await;
    assert_eq!(r.errors.len(), 2, "{:?}", r.errors);
    assert!(r
        .errors
        .iter()
        .all(|e| e.address.to_string().starts_with("subnet.")));
    assert!(
        r.errors[0].message.contains("InvalidSubnet.Conflict"),
        "{:?}",
        r.errors
    );
    assert!(buf.text().contains("Failed: "));
    // Nothing that needed the failed subnets ran: no interface endpoint was created.
    let w = cloud.world.lock().unwrap();
    assert!(w
        .endpoints
        .iter()
        .all(|e| e.endpoint_type == crate::observe::EndpointType::Gateway));
}

/// A backend whose endpoint creates wait like real ones (after releasing their slot).
struct Waity(FakeCloud);

impl super::Backend for Waity {
    async fn perform(
        &self,
        op: crate::changeset::Op,
        label: String,
        mut slot: super::Slot,
    ) -> Result<Option<String>, super::NodeFailure> {
        let waits = matches!(
            op,
            crate::changeset::Op::InterfaceEndpoint(_) | crate::changeset::Op::GatewayEndpoint(_)
        ) && op.creates();
        let r = self.0.perform(op, label, super::Slot::free()).await;
        if waits {
            slot.release();
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        r
    }
}

#[tokio::test]
async fn endpoint_waits_do_not_hold_parallelism_slots() {
    let plan = studio("e5");
    let backend = Arc::new(Waity(FakeCloud::default()));
    let cs = diff(&plan, &backend.0.observe(&plan)).unwrap();
    let opts = ExecOptions {
        parallelism: 1,
        ..ExecOptions::default()
    };
    let t = Instant::now();
    let r = execute(
        &cs,
        backend.clone(),
        &opts,
        &Progress::to(Box::new(std::io::sink())),
    )
    .await;
    assert!(r.errors.is_empty());
    // Six endpoints wait 300 ms each; with one slot they would take 1.8 s if a wait
    // held the slot.
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn the_longest_pole_starts_first() {
    // One call at a time: the order is the scheduler's alone. Endpoint creates are the
    // long poles (minutes on AWS, the slowest bucket): they start as soon as their VPC,
    // DNS attribute, subnets and group exist, before any rule or association.
    let cloud = Arc::new(FakeCloud::default());
    let plan = studio("e6");
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    let costs: Vec<f64> = cs
        .nodes
        .iter()
        .map(|n| {
            if n.op.api_name() == "CreateVpcEndpoint" {
                100.0
            } else {
                1.0
            }
        })
        .collect();
    let opts = ExecOptions {
        parallelism: 1,
        costs: Some(costs),
        ..ExecOptions::default()
    };
    let r = execute(
        &cs,
        cloud.clone(),
        &opts,
        &Progress::to(Box::new(std::io::sink())),
    )
    .await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let log: Vec<String> = cloud
        .log
        .lock()
        .unwrap()
        .iter()
        .map(|(api, _)| api.clone())
        .collect();
    let last_endpoint = log.iter().rposition(|a| a == "CreateVpcEndpoint").unwrap();
    let first_rule = log.iter().position(|a| a.starts_with("Authorize")).unwrap();
    let first_assoc = log.iter().position(|a| a == "AssociateRouteTable").unwrap();
    assert!(last_endpoint < first_rule, "{log:?}");
    assert!(last_endpoint < first_assoc, "{log:?}");

    // Without costs, ties go by index: the same changeset runs rules before endpoints.
    let cloud = Arc::new(FakeCloud::default());
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    let opts = ExecOptions {
        parallelism: 1,
        ..ExecOptions::default()
    };
    execute(
        &cs,
        cloud.clone(),
        &opts,
        &Progress::to(Box::new(std::io::sink())),
    )
    .await;
    let log: Vec<String> = cloud
        .log
        .lock()
        .unwrap()
        .iter()
        .map(|(api, _)| api.clone())
        .collect();
    let first_endpoint = log.iter().position(|a| a == "CreateVpcEndpoint").unwrap();
    let first_rule = log.iter().position(|a| a.starts_with("Authorize")).unwrap();
    assert!(first_rule < first_endpoint, "{log:?}");
}

#[tokio::test]
async fn a_stop_request_lets_calls_in_flight_finish_and_starts_nothing_new() {
    let cloud = Arc::new(FakeCloud::new(Duration::from_millis(100)));
    let plan = studio("e7");
    let cs = diff(&plan, &cloud.observe(&plan)).unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let opts = ExecOptions {
        stop: Some(rx),
        ..ExecOptions::default()
    };
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        tx.send(true).unwrap();
        tx
    });
    let r = execute(
        &cs,
        cloud.clone(),
        &opts,
        &Progress::to(Box::new(std::io::sink())),
    )
    .await;
    drop(stopper.await);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r.stopped);
    // The VPC took 100 ms; the seven nodes that waited only for it (DNS attribute,
    // subnets, route table, groups) were in flight at the stop and finished; nothing
    // after them started.
    assert_eq!(r.completed, 8, "{:?}", cloud.log.lock().unwrap());
    assert_eq!(r.not_started.len(), cs.nodes.len() - 8);
}
