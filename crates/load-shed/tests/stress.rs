//! Two threads contending on one shedder: the limit is never exceeded, and every slot
//! and queue place is back when the calls are done.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use hardy_load_shed::{CallInfo, LoadShedder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_threads_never_exceed_the_limit_and_balance() {
    const LIMIT: u32 = 4;
    let shedder = LoadShedder::builder("stress")
        .fixed_limit(LIMIT)
        .priorities(2)
        .fairness(0.5)
        .queue(16, Duration::from_secs(30), Duration::from_secs(60))
        .build()
        .unwrap();
    let running = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let (admitted, shed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for task in 0..8u32 {
        let (shedder, running, most) = (shedder.clone(), running.clone(), most.clone());
        let (admitted, shed) = (admitted.clone(), shed.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..2_000u32 {
                let info = CallInfo::new().priority((i % 2) as u8).client(&(task % 3));
                let result = shedder
                    .call_as(info, || async {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, std::io::Error>(())
                    })
                    .await;
                match result {
                    Ok(()) => admitted.fetch_add(1, Ordering::Relaxed),
                    Err(_) => shed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stats = shedder.stats();
    assert!(most.load(Ordering::SeqCst) <= LIMIT);
    assert_eq!((stats.in_flight, stats.waiting, stats.clients), (0, 0, 0));
    assert_eq!(
        admitted.load(Ordering::Relaxed) + shed.load(Ordering::Relaxed),
        16_000
    );
    assert_eq!(shed.load(Ordering::Relaxed), stats.shed.total());
    assert!(admitted.load(Ordering::Relaxed) > 0);
}
