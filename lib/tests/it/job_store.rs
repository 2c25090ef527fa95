//! The `JobStore` contract, run against every adapter: `local` (SQLite) and `aws` (DynamoDB on
//! the emulator).

use std::sync::Arc;

use emo::domain::{ModelKind, Resolution, VideoSize};
use emo::job::transitions::StickerFile;
use emo::job::{Job, JobId, JobRequest, JobStatus, Stage};
use emo::store::aws::DynamoJobStore;
use emo::store::local::{LocalDb, LocalJobStore};
use emo::store::{JobDurations, JobPosition, JobStore, RECENT_DURATIONS, StoreError, TaskSlots};

/// The job ports one adapter serves.
trait Jobs: JobStore + TaskSlots + JobDurations {}
impl<T: JobStore + TaskSlots + JobDurations> Jobs for T {}

use crate::harness::{emulator, unique_name};

fn local_jobs() -> (Arc<dyn Jobs>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = LocalDb::open(dir.path()).unwrap();
    (Arc::new(LocalJobStore::new(db)), dir)
}

async fn aws_jobs() -> Option<Arc<dyn Jobs>> {
    let conf = emulator().await?;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let table = unique_name("emo-jobs");
    DynamoJobStore::create_table(&client, &table).await.unwrap();
    Some(Arc::new(DynamoJobStore::new(client, table, 7 * 86_400)))
}

fn text_job(user_id: i64, created_at: u64) -> Job {
    let request = JobRequest::TextToVideo {
        prompt: "a cat waving".into(),
        negative_prompt: None,
        size: VideoSize::parse(Some("624*624")).unwrap(),
    };
    Job::new(JobId::new(), user_id, request, created_at, 1800)
}

/// A job well into its life: every `Option` is `Some` and every counter is off zero.
fn finished_image_job() -> Job {
    let request = JobRequest::ImageToVideo {
        prompt: "让这只猫挥手 🐱".into(),
        negative_prompt: Some("blurry, 模糊".into()),
        resolution: Resolution::parse(Some("720P")).unwrap(),
        image_key: "inputs/job_0123456789abcdef01234567.png".into(),
    };
    let created = Job::new(JobId::new(), 42, request, 1_764_000_000, 1800);
    let mut job = created.succeeded(StickerFile {
        key: format!("gifs/{}.gif", created.id),
        bytes: 1_234_567,
        width: 480,
        height: 270,
        thumb_key: Some(format!("thumbs/{}.png", created.id)),
    });
    job.created_micros = 123_450;
    job.seed = Some(2_147_483_647);
    assert_eq!((job.status, job.stage), (JobStatus::Succeeded, Stage::Done));
    job.rev = 7;
    job.updated_at = 1_764_000_321;
    job.lease_until = 1_764_000_500;
    job.submit_attempts = 2;
    job.described_prompt = Some("An orange cat waves its paw at the camera.".into());
    job.task_id = Some("0385dc79-5ff8-4d82-bcb6-xxxxxxxxxxxx".into());
    job.poll_seq = 5;
    job.error_message = Some("not really an error, but the field round-trips".into());
    job
}

async fn a_created_job_reads_back_with_every_field(jobs: Arc<dyn Jobs>) {
    let image = finished_image_job();
    let plain = text_job(42, 1_764_000_000);
    let character = Job::new(
        JobId::new(),
        43,
        JobRequest::Character {
            role: "孙悟空".into(),
            source: None,
            action: "翻跟头".into(),
            size: VideoSize::parse(Some("832*480")).unwrap(),
        },
        1_764_000_001,
        1800,
    );
    for job in [&image, &plain, &character] {
        jobs.create(job).await.unwrap();
    }
    for job in [&image, &plain, &character] {
        let got = jobs.get(&job.id).await.unwrap();
        assert_eq!(got.as_ref(), Some(job));
    }
    // The None side of every Option, explicitly.
    let got = jobs.get(&plain.id).await.unwrap().unwrap();
    assert!(
        got.described_prompt.is_none()
            && got.task_id.is_none()
            && got.gif_key.is_none()
            && got.gif_bytes.is_none()
            && got.gif_width.is_none()
            && got.gif_height.is_none()
            && got.thumb_key.is_none()
            && got.seed.is_none()
            && got.created_micros == 0
            && got.error_message.is_none(),
        "{got:?}"
    );
}

async fn a_job_id_can_be_created_only_once(jobs: Arc<dyn Jobs>) {
    let first = text_job(1, 100);
    jobs.create(&first).await.unwrap();
    let mut second = text_job(2, 200);
    second.id = first.id.clone();
    let again = jobs.create(&second).await;
    assert!(matches!(again, Err(StoreError::JobExists)), "{again:?}");
    assert_eq!(jobs.get(&first.id).await.unwrap(), Some(first));
}

async fn an_update_over_the_stored_revision_applies_and_a_stale_writer_loses(jobs: Arc<dyn Jobs>) {
    let job = text_job(1, 100);
    jobs.create(&job).await.unwrap();
    let read = jobs.get(&job.id).await.unwrap().unwrap();

    let mut first = read.submitted("task-first".into(), None);
    first.rev = read.rev + 1;
    first.updated_at = 110;
    assert!(jobs.update(&first).await.unwrap());
    assert_eq!(jobs.get(&job.id).await.unwrap().as_ref(), Some(&first));

    // A second writer that read the same revision is refused and changes nothing.
    let mut stale = read.failed("the stale writer's view");
    stale.rev = read.rev + 1;
    stale.updated_at = 120;
    assert!(!jobs.update(&stale).await.unwrap());
    assert_eq!(jobs.get(&job.id).await.unwrap().as_ref(), Some(&first));

    // The winner goes on from what it wrote.
    let mut next = first.clone();
    next.rev = first.rev + 1;
    next.poll_seq = 1;
    assert!(jobs.update(&next).await.unwrap());
    assert_eq!(jobs.get(&job.id).await.unwrap(), Some(next));
}

async fn an_update_that_does_not_follow_the_stored_revision_is_refused(jobs: Arc<dyn Jobs>) {
    let job = text_job(1, 100);
    jobs.create(&job).await.unwrap();
    assert_eq!(job.rev, 0);
    let mut changed = job.failed("forgot to bump the revision");
    changed.updated_at = 120;
    // Same revision as stored (0), then one that skips ahead.
    for rev in [0, 2] {
        changed.rev = rev;
        assert!(!jobs.update(&changed).await.unwrap(), "rev {rev}");
        assert_eq!(jobs.get(&job.id).await.unwrap().as_ref(), Some(&job));
    }
}

async fn updating_a_missing_job_writes_nothing(jobs: Arc<dyn Jobs>) {
    let mut ghost = text_job(1, 100);
    ghost.rev = 1;
    assert!(!jobs.update(&ghost).await.unwrap());
    assert_eq!(jobs.get(&ghost.id).await.unwrap(), None);
}

async fn of_concurrent_updates_from_one_read_exactly_one_wins(jobs: Arc<dyn Jobs>) {
    let job = text_job(1, 100);
    jobs.create(&job).await.unwrap();
    let read = jobs.get(&job.id).await.unwrap().unwrap();
    let writers = (0..8).map(|i| {
        let jobs = jobs.clone();
        let mut mine = read.clone();
        mine.rev = read.rev + 1;
        mine.task_id = Some(format!("task-{i}"));
        async move { (jobs.update(&mine).await.unwrap(), mine) }
    });
    let results = futures_util::future::join_all(writers).await;
    let winners: Vec<&Job> = results
        .iter()
        .filter(|(won, _)| *won)
        .map(|r| &r.1)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(jobs.get(&job.id).await.unwrap().as_ref(), Some(winners[0]));
}

async fn a_deleted_job_is_gone_and_deleting_it_again_is_fine(jobs: Arc<dyn Jobs>) {
    let job = text_job(1, 100);
    let other = text_job(1, 101);
    jobs.create(&job).await.unwrap();
    jobs.create(&other).await.unwrap();
    jobs.delete(&job.id).await.unwrap();
    assert_eq!(jobs.get(&job.id).await.unwrap(), None);
    assert_eq!(
        jobs.list_for_user(1, 0, 10).await.unwrap(),
        std::slice::from_ref(&other)
    );
    jobs.delete(&job.id).await.unwrap();
    // Its id is free again (creation undone means never created).
    jobs.create(&job).await.unwrap();
    assert_eq!(jobs.get(&other.id).await.unwrap(), Some(other));
}

async fn getting_a_missing_job_finds_nothing(jobs: Arc<dyn Jobs>) {
    assert_eq!(jobs.get(&JobId::new()).await.unwrap(), None);
}

async fn a_users_list_is_theirs_only_newest_first_within_since_and_limit(jobs: Arc<dyn Jobs>) {
    const ME: i64 = 7;
    // Created out of order, so the order must come from `created_at`.
    let mine: Vec<Job> = [300, 100, 500, 200, 400]
        .into_iter()
        .map(|t| text_job(ME, t))
        .collect();
    for job in &mine {
        jobs.create(job).await.unwrap();
    }
    for t in [150, 300, 600] {
        jobs.create(&text_job(8, t)).await.unwrap();
    }
    let at = |t: u64| mine.iter().find(|j| j.created_at == t).unwrap().clone();
    let times = |list: Vec<Job>| list.iter().map(|j| j.created_at).collect::<Vec<_>>();

    let all = jobs.list_for_user(ME, 0, 100).await.unwrap();
    assert!(all.iter().all(|j| j.user_id == ME), "{all:?}");
    assert_eq!(
        all,
        vec![at(500), at(400), at(300), at(200), at(100)],
        "whole jobs, newest first"
    );
    // `since` is inclusive.
    assert_eq!(
        times(jobs.list_for_user(ME, 300, 100).await.unwrap()),
        [500, 400, 300]
    );
    assert_eq!(
        times(jobs.list_for_user(ME, 301, 100).await.unwrap()),
        [500, 400]
    );
    // `limit` keeps the newest.
    assert_eq!(
        times(jobs.list_for_user(ME, 0, 2).await.unwrap()),
        [500, 400]
    );
    assert_eq!(
        times(jobs.list_for_user(ME, 200, 5).await.unwrap()),
        [500, 400, 300, 200]
    );
    assert_eq!(times(jobs.list_for_user(ME, 400, 1).await.unwrap()), [500]);
    assert!(jobs.list_for_user(ME, 0, 0).await.unwrap().is_empty());
    assert!(jobs.list_for_user(ME, 501, 100).await.unwrap().is_empty());
    assert!(jobs.list_for_user(9, 0, 100).await.unwrap().is_empty());
    assert_eq!(
        times(jobs.list_for_user(8, 0, 100).await.unwrap()),
        [600, 300, 150]
    );
}

/// Every page of `user_id`'s list (in `status` if given), `limit` at a time, from the start.
async fn all_pages(
    jobs: &dyn Jobs,
    user_id: i64,
    status: Option<JobStatus>,
    limit: usize,
) -> Vec<Vec<JobId>> {
    let mut pages = Vec::new();
    let mut after: Option<JobPosition> = None;
    loop {
        let page = jobs
            .list_page(user_id, status, after.as_ref(), limit)
            .await
            .unwrap();
        assert!(page.jobs.len() <= limit, "{} > {limit}", page.jobs.len());
        assert!(page.jobs.iter().all(|j| j.user_id == user_id));
        pages.push(page.jobs.iter().map(|j| j.id.clone()).collect());
        match page.next {
            Some(next) => after = Some(next),
            None => return pages,
        }
        assert!(pages.len() < 100, "the pages never end");
    }
}

async fn pages_hold_each_of_a_users_jobs_once_newest_first_to_the_microsecond(jobs: Arc<dyn Jobs>) {
    const ME: i64 = 11;
    // Three in one second, told apart by their microseconds (one written before microseconds
    // were kept: 0), stored out of order; two more seconds; another user's in between.
    let mut mine = Vec::new();
    for (secs, micros) in [
        (1_764_000_100, 500_000),
        (1_764_000_100, 0),
        (1_764_000_200, 7),
        (1_764_000_100, 999_999),
        (1_764_000_000, 120_000),
        (1_764_000_100, 12),
    ] {
        let mut job = text_job(ME, secs);
        job.created_micros = micros;
        jobs.create(&job).await.unwrap();
        let mut other = text_job(ME + 1, secs);
        other.created_micros = micros;
        jobs.create(&other).await.unwrap();
        mine.push(job);
    }
    mine.sort_by_key(|j| std::cmp::Reverse((j.created_at, j.created_micros)));
    let newest_first: Vec<JobId> = mine.iter().map(|j| j.id.clone()).collect();
    for limit in [1, 2, 4, 6, 50] {
        let pages = all_pages(jobs.as_ref(), ME, None, limit).await;
        let seen: Vec<JobId> = pages.concat();
        assert_eq!(seen, newest_first, "pages of {limit}");
        // Only the last page may be short (and then it says there is no next).
        assert!(pages[..pages.len() - 1].iter().all(|p| p.len() == limit));
    }
    // A page after a given job starts just after it.
    let third = JobPosition::of(&mine[2]);
    let rest = jobs.list_page(ME, None, Some(&third), 50).await.unwrap();
    let ids: Vec<JobId> = rest.jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(ids, newest_first[3..]);
    assert!(rest.next.is_none());
    // Jobs read back whole, their microseconds included.
    assert_eq!(rest.jobs[0], mine[3]);
    // Nobody's list is empty; a limit of 0 reads nothing.
    assert!(
        jobs.list_page(99, None, None, 20)
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
    assert!(
        jobs.list_page(ME, None, None, 0)
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
}

async fn a_status_filter_pages_through_the_jobs_in_that_status_only(jobs: Arc<dyn Jobs>) {
    const ME: i64 = 21;
    let mut failed = Vec::new();
    // 130 jobs, three of them FAILED, so a filtered page has to read past many others.
    for i in 0..130u64 {
        let mut job = text_job(ME, 1_764_000_000 + i);
        if i % 50 == 7 {
            job = job.failed("不行");
            failed.push(job.id.clone());
        } else if i % 2 == 0 {
            job = job.submitted(format!("task-{i}"), None);
        }
        jobs.create(&job).await.unwrap();
    }
    failed.reverse();
    let pages = all_pages(jobs.as_ref(), ME, Some(JobStatus::Failed), 2).await;
    assert_eq!(pages.concat(), failed);
    let running = all_pages(jobs.as_ref(), ME, Some(JobStatus::Running), 50).await;
    assert_eq!(running.concat().len(), 65);
    let pending = all_pages(jobs.as_ref(), ME, Some(JobStatus::Pending), 50).await;
    assert_eq!(pending.concat().len(), 62);
    let succeeded = all_pages(jobs.as_ref(), ME, Some(JobStatus::Succeeded), 50).await;
    assert!(succeeded.concat().is_empty());
}

async fn recent_durations_keep_the_last_of_each_model(jobs: Arc<dyn Jobs>) {
    assert!(
        jobs.recent_durations(&[ModelKind::T2v, ModelKind::I2v])
            .await
            .unwrap()
            .is_empty(),
        "no history yet"
    );
    for secs in 1..=(RECENT_DURATIONS as u64 + 5) {
        jobs.record_duration(ModelKind::T2v, secs).await.unwrap();
    }
    jobs.record_duration(ModelKind::I2v, 40).await.unwrap();
    let mut found = jobs
        .recent_durations(&[ModelKind::T2v, ModelKind::I2v])
        .await
        .unwrap();
    found.sort_by_key(|(m, _)| m.as_str());
    for (_, secs) in &mut found {
        secs.sort_unstable();
    }
    let last_of_t2v: Vec<u64> = (6..=RECENT_DURATIONS as u64 + 5).collect();
    assert_eq!(
        found,
        vec![(ModelKind::I2v, vec![40]), (ModelKind::T2v, last_of_t2v)]
    );
    assert_eq!(
        jobs.recent_durations(&[ModelKind::I2v]).await.unwrap(),
        vec![(ModelKind::I2v, vec![40])]
    );
    assert!(jobs.recent_durations(&[]).await.unwrap().is_empty());
}

async fn durations_recorded_at_once_each_keep_their_place(jobs: Arc<dyn Jobs>) {
    let records = (0..RECENT_DURATIONS as u64)
        .map(|secs| {
            let jobs = jobs.clone();
            tokio::spawn(async move { jobs.record_duration(ModelKind::I2v, 100 + secs).await })
        })
        .collect::<Vec<_>>();
    for r in records {
        r.await.unwrap().unwrap();
    }
    let found = jobs.recent_durations(&[ModelKind::I2v]).await.unwrap();
    let mut secs = found[0].1.clone();
    secs.sort_unstable();
    assert_eq!(
        secs,
        (100..100 + RECENT_DURATIONS as u64).collect::<Vec<_>>()
    );
}

async fn task_slots_admit_at_most_max_jobs_and_free_up_on_release_or_expiry(jobs: Arc<dyn Jobs>) {
    let (a, b, c) = (JobId::new(), JobId::new(), JobId::new());
    assert!(
        jobs.acquire_task_slot(ModelKind::T2v, &a, 1, 100, 1000, 2)
            .await
            .unwrap()
    );
    assert!(
        jobs.acquire_task_slot(ModelKind::T2v, &b, 2, 100, 1000, 2)
            .await
            .unwrap()
    );
    assert!(
        !jobs
            .acquire_task_slot(ModelKind::T2v, &c, 3, 100, 1000, 2)
            .await
            .unwrap()
    );
    // Taking again what one holds succeeds; another model's slots are its own.
    assert!(
        jobs.acquire_task_slot(ModelKind::T2v, &a, 1, 101, 1000, 2)
            .await
            .unwrap()
    );
    assert!(
        jobs.acquire_task_slot(ModelKind::I2v, &c, 3, 100, 1000, 2)
            .await
            .unwrap()
    );
    jobs.release_task_slot(ModelKind::T2v, &a, 1, 2)
        .await
        .unwrap();
    assert!(
        jobs.acquire_task_slot(ModelKind::T2v, &c, 3, 102, 5000, 2)
            .await
            .unwrap()
    );
    // A slot whose time ran out (its holder died) is free again.
    let d = JobId::new();
    assert!(
        !jobs
            .acquire_task_slot(ModelKind::T2v, &d, 4, 999, 2000, 2)
            .await
            .unwrap()
    );
    assert!(
        jobs.acquire_task_slot(ModelKind::T2v, &d, 4, 1001, 2000, 2)
            .await
            .unwrap()
    );
    // Releasing what one does not hold changes nothing.
    jobs.release_task_slot(ModelKind::T2v, &a, 1, 2)
        .await
        .unwrap();
    assert!(
        !jobs
            .acquire_task_slot(ModelKind::T2v, &a, 1, 1001, 2000, 2)
            .await
            .unwrap()
    );
}

async fn one_user_holds_one_slot_of_a_model_however_many_jobs_they_queue(jobs: Arc<dyn Jobs>) {
    let mine: Vec<JobId> = (0..4).map(|_| JobId::new()).collect();
    let tries = mine.iter().map(|id| {
        let jobs = jobs.clone();
        async move {
            jobs.acquire_task_slot(ModelKind::T2v, id, 42, 10, 500, 3)
                .await
                .unwrap()
        }
    });
    let won: Vec<bool> = futures_util::future::join_all(tries).await;
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let holder = &mine[won.iter().position(|w| *w).unwrap()];
    // Someone else still gets one of the free slots, and the holder keeps (extends) its own.
    assert!(
        jobs.acquire_task_slot(ModelKind::T2v, &JobId::new(), 43, 10, 500, 3)
            .await
            .unwrap()
    );
    assert!(
        jobs.acquire_task_slot(ModelKind::T2v, holder, 42, 11, 600, 3)
            .await
            .unwrap()
    );
    // Once the holder gives its slot back, the user's next job gets one; another model's slot
    // was never theirs to wait for.
    let next = mine.iter().find(|id| *id != holder).unwrap();
    assert!(
        jobs.acquire_task_slot(ModelKind::I2v, next, 42, 11, 500, 3)
            .await
            .unwrap()
    );
    jobs.release_task_slot(ModelKind::T2v, holder, 42, 3)
        .await
        .unwrap();
    assert!(
        jobs.acquire_task_slot(ModelKind::T2v, next, 42, 12, 500, 3)
            .await
            .unwrap()
    );
    // With a single slot there is nothing to share: the one slot goes to whoever asks first.
    let solo = JobId::new();
    assert!(
        jobs.acquire_task_slot(ModelKind::T2v, &solo, 42, 12, 500, 1)
            .await
            .is_ok()
    );
}

async fn the_create_lock_has_one_holder_and_a_gap_after_it(jobs: Arc<dyn Jobs>) {
    let (a, b) = (JobId::new(), JobId::new());
    assert!(
        jobs.acquire_create_lock(ModelKind::T2v, &a, 100, 160)
            .await
            .unwrap()
    );
    assert!(
        !jobs
            .acquire_create_lock(ModelKind::T2v, &b, 101, 161)
            .await
            .unwrap(),
        "held"
    );
    // Another model's lock is its own; the holder may take it again, shortening its hold.
    assert!(
        jobs.acquire_create_lock(ModelKind::I2v, &b, 101, 161)
            .await
            .unwrap()
    );
    assert!(
        jobs.acquire_create_lock(ModelKind::T2v, &a, 102, 110)
            .await
            .unwrap()
    );
    // A hold that ran out frees the lock only after the gap.
    let gap = emo::store::CREATE_GAP_SECS;
    assert!(
        !jobs
            .acquire_create_lock(ModelKind::T2v, &b, 110 + gap - 1, 200)
            .await
            .unwrap()
    );
    assert!(
        jobs.acquire_create_lock(ModelKind::T2v, &b, 110 + gap, 200)
            .await
            .unwrap()
    );
    // Let go, it is free again from the time its holder says, not before; letting go of what
    // one does not hold changes nothing.
    jobs.release_create_lock(ModelKind::T2v, &a, 100)
        .await
        .unwrap();
    assert!(
        !jobs
            .acquire_create_lock(ModelKind::T2v, &a, 121, 200)
            .await
            .unwrap()
    );
    jobs.release_create_lock(ModelKind::T2v, &b, 130 + gap)
        .await
        .unwrap();
    assert!(
        !jobs
            .acquire_create_lock(ModelKind::T2v, &a, 130 + gap - 1, 200)
            .await
            .unwrap()
    );
    assert!(
        jobs.acquire_create_lock(ModelKind::T2v, &a, 130 + gap, 200)
            .await
            .unwrap()
    );
}

async fn the_unattended_list_holds_jobs_in_progress_by_their_last_write(jobs: Arc<dyn Jobs>) {
    let (old, ended, newer) = (text_job(1, 100), text_job(2, 200), text_job(3, 300));
    for job in [&old, &ended, &newer] {
        jobs.create(job).await.unwrap();
    }
    let mut failed = ended.failed("生成超时");
    failed.rev = 1;
    assert!(jobs.update(&failed).await.unwrap());
    let ids = |list: Vec<Job>| list.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        ids(jobs.list_unattended(301, 10).await.unwrap()),
        [old.id.clone(), newer.id.clone()],
        "in progress only, oldest write first"
    );
    assert_eq!(
        ids(jobs.list_unattended(250, 10).await.unwrap()),
        vec![old.id.clone()]
    );
    assert_eq!(
        ids(jobs.list_unattended(301, 1).await.unwrap()),
        vec![old.id.clone()]
    );
    // A write moves a job to the back.
    let mut touched = old.touched();
    touched.rev = 1;
    touched.updated_at = 400;
    assert!(jobs.update(&touched).await.unwrap());
    assert_eq!(
        ids(jobs.list_unattended(401, 10).await.unwrap()),
        [newer.id.clone(), old.id.clone()]
    );
    assert!(jobs.list_unattended(100, 10).await.unwrap().is_empty());
}

async fn simultaneous_jobs_never_hold_more_slots_than_max(jobs: Arc<dyn Jobs>) {
    let ids: Vec<JobId> = (0..8).map(|_| JobId::new()).collect();
    let tries = ids.iter().enumerate().map(|(user, id)| {
        let jobs = jobs.clone();
        async move {
            jobs.acquire_task_slot(ModelKind::I2v, id, user as i64 + 1, 10, 500, 3)
                .await
                .unwrap()
        }
    });
    let won = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .filter(|w| *w)
        .count();
    assert_eq!(won, 3);
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (jobs, _dir) = super::local_jobs();
                    super::$case(jobs).await;
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(jobs) = super::aws_jobs().await else { return };
                    super::$case(jobs).await;
                }
            )*
        }
    };
}

contract!(
    a_created_job_reads_back_with_every_field,
    a_job_id_can_be_created_only_once,
    an_update_over_the_stored_revision_applies_and_a_stale_writer_loses,
    an_update_that_does_not_follow_the_stored_revision_is_refused,
    updating_a_missing_job_writes_nothing,
    of_concurrent_updates_from_one_read_exactly_one_wins,
    a_deleted_job_is_gone_and_deleting_it_again_is_fine,
    getting_a_missing_job_finds_nothing,
    a_users_list_is_theirs_only_newest_first_within_since_and_limit,
    pages_hold_each_of_a_users_jobs_once_newest_first_to_the_microsecond,
    a_status_filter_pages_through_the_jobs_in_that_status_only,
    recent_durations_keep_the_last_of_each_model,
    durations_recorded_at_once_each_keep_their_place,
    task_slots_admit_at_most_max_jobs_and_free_up_on_release_or_expiry,
    simultaneous_jobs_never_hold_more_slots_than_max,
    one_user_holds_one_slot_of_a_model_however_many_jobs_they_queue,
    the_create_lock_has_one_holder_and_a_gap_after_it,
    the_unattended_list_holds_jobs_in_progress_by_their_last_write,
);
