//! The control plane's operations, the same suite on SQLite and on PostgreSQL (a
//! throwaway cluster the test starts): every table, its paging, its conflicts and its
//! refusals must behave the same on both, so the server can run on either.

use std::collections::BTreeMap;

use sextant_metadata::{
    AnnotationChanges, ApiTokenAuth, Backend, CohortChanges, FunnelChanges, LookupMapping, LookupTableChanges,
    Metadata, MetadataError, OrgAuth, ServiceAccountAuth, TaskDone,
};
use sextant_model::rate_limits::{FamilyLimits, ProjectLimits};
use sextant_model::workspace::WorkspaceChange;
use sextant_model::{
    Actor, ActorKind, ApiFamily, CohortDefinition, FunnelDefinition, FunnelStep, IdentityMode, OrgId, PageRequest,
    PageStart, ProjectChanges, ProjectId, Region, Role, ServiceAccountId,
};

#[tokio::test]
async fn the_suite_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let md = Metadata::open(&dir.path().join("metadata.sqlite")).await.unwrap();
    assert_eq!(md.backend(), Backend::Sqlite);
    suite(&md).await;
    md.close().await;
    // Reopened: the migrations already applied are recognised, and the data is there.
    let md = Metadata::open(&dir.path().join("metadata.sqlite")).await.unwrap();
    assert_eq!(md.list_projects().await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_suite_on_postgres() {
    let cluster = sextant_metadata::testsupport::Cluster::start();
    let md = Metadata::connect(&cluster.url()).await.unwrap();
    assert_eq!(md.backend(), Backend::Postgres);
    suite(&md).await;
    md.close().await;
    let md = Metadata::connect(&cluster.url()).await.unwrap();
    assert_eq!(md.list_projects().await.unwrap().len(), 2);
    md.close().await;
}

/// Servers that share one PostgreSQL database and start together bootstrap it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn servers_starting_together_on_postgres_bootstrap_once() {
    let cluster = sextant_metadata::testsupport::Cluster::start();
    let url = cluster.url();
    let mut servers = Vec::new();
    for _ in 0..6 {
        servers.push(Metadata::connect(&url).await.unwrap());
    }
    let starts = servers.iter().map(|md| async move { md.bootstrap().await.unwrap() });
    let boots = futures::future::join_all(starts).await;
    assert_eq!(boots.iter().filter(|b| b.is_some()).count(), 1, "one bootstrap");
    assert_eq!(servers[0].list_projects().await.unwrap().len(), 1, "one default project");
    // The lock was let go: a later start finds the organisation without waiting.
    assert!(servers[5].bootstrap().await.unwrap().is_none());
    for md in servers {
        md.close().await;
    }
}

/// The control plane reaches PostgreSQL over TLS when the URL asks for it, checking the
/// server's certificate against the authority it names; a certificate that authority
/// did not sign is refused.
#[tokio::test]
async fn postgres_over_tls_verifies_the_server() {
    let cluster = sextant_metadata::testsupport::Cluster::start_with_tls();
    let ca = cluster.ca_file();
    let verified = format!("{}?sslmode=verify-full&sslrootcert={}", cluster.url(), ca.display());
    let md = Metadata::connect(&verified).await.unwrap();
    assert!(md.transport_encrypted().await.unwrap(), "verify-full is encrypted");
    assert!(md.bootstrap().await.unwrap().is_some(), "and works");
    md.close().await;
    let plain = Metadata::connect(&format!("{}?sslmode=disable", cluster.url())).await.unwrap();
    assert!(!plain.transport_encrypted().await.unwrap());
    plain.close().await;
    // Another authority's certificate: the connection is refused, not made in the clear.
    let other = sextant_metadata::testsupport::Cluster::start_with_tls();
    let wrong = format!("{}?sslmode=verify-full&sslrootcert={}", cluster.url(), other.ca_file().display());
    assert!(Metadata::connect(&wrong).await.is_err(), "a server the authority did not sign is refused");
}

#[tokio::test]
async fn other_urls_are_refused() {
    let refused = Metadata::connect("mysql://localhost/sextant").await;
    assert!(matches!(refused, Err(MetadataError::Invalid(_))), "{refused:?}");
}

fn first(limit: u32) -> PageRequest {
    PageRequest { limit, from: PageStart::Newest }
}

async fn suite(md: &Metadata) {
    // Projects and service accounts.
    let boot = md.bootstrap().await.unwrap().expect("a first bootstrap");
    assert!(md.bootstrap().await.unwrap().is_none());
    let project = boot.project.project.clone();
    let pid = project.id;
    assert_eq!(md.project_by_token(&project.token).await.unwrap().unwrap().id, pid);
    assert_eq!(md.project_by_secret(&boot.project.secret).await.unwrap().unwrap().id, pid);
    let sa = &boot.service_account;
    assert_eq!(
        md.authenticate_service_account(&sa.username, &sa.secret, pid).await.unwrap(),
        ServiceAccountAuth::Role(Role::Owner, sa.id)
    );
    let other = md.create_project(boot.organization_id, "Other", "Europe/Paris").await.unwrap().project;
    assert!(other.id.0 > pid.0);
    let limits: ProjectLimits =
        BTreeMap::from([(ApiFamily::Query, FamilyLimits { per_hour: Some(600), ..Default::default() })]);
    let changes = ProjectChanges {
        case_sensitive_strings: Some(true),
        region: Some(Region::Eu),
        identity_mode: Some(IdentityMode::Original),
        rate_limits: Some(limits.clone()),
        ..Default::default()
    };
    let changed = md.update_project(pid, &changes).await.unwrap();
    assert!(changed.case_sensitive_strings);
    assert_eq!((changed.region, changed.identity_mode), (Region::Eu, IdentityMode::Original));
    assert_eq!(md.project(pid).await.unwrap().unwrap(), changed, "as stored");
    assert_eq!(md.project_limits().await.unwrap(), [(pid, limits)]);
    let analyst = md.create_service_account(pid, Role::Analyst, "analyst", None, &Actor::cli()).await.unwrap();
    assert_eq!(md.list_service_accounts(pid).await.unwrap().len(), 2);
    let page = md.page_service_accounts(pid, first(1)).await.unwrap();
    assert_eq!(page.items[0].0.id, analyst.id, "newest first");
    assert!(page.has_next);
    // Expiry is enforced at authentication; use is recorded.
    let soon = chrono::Utc::now().timestamp_millis() + 150;
    let brief = md.create_service_account(pid, Role::Admin, "brief", Some(soon), &Actor::cli()).await.unwrap();
    let auth = md.authenticate_service_account(&brief.username, &brief.secret, pid).await.unwrap();
    assert_eq!(auth, ServiceAccountAuth::Role(Role::Admin, brief.id));
    let listed = md.list_service_accounts(pid).await.unwrap();
    let (info, _) = listed.iter().find(|(a, _)| a.id == brief.id).unwrap();
    assert!(info.last_used_ms.is_some() && info.expires_at_ms == Some(soon), "{info:?}");
    assert_eq!(info.creator, Some(Actor::cli()));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let auth = md.authenticate_service_account(&brief.username, &brief.secret, pid).await.unwrap();
    assert_eq!(auth, ServiceAccountAuth::Expired(soon));
    let past = md.create_service_account(pid, Role::Admin, "late", Some(soon), &Actor::cli()).await;
    assert!(matches!(past, Err(MetadataError::Invalid(_))), "{past:?}");
    assert!(matches!(
        md.create_project(boot.organization_id, "x", "Mars/Olympus").await,
        Err(MetadataError::Invalid(_))
    ));

    // API tokens: paging, a child bounded by its parent, revocation down the chain.
    let parent = md.create_api_token(pid, "parent", &[ApiFamily::Query, ApiFamily::App], 600_000, None).await.unwrap();
    let child = md
        .create_api_token_under(parent.info.id, pid, "child", &[ApiFamily::Query], 10_000_000)
        .await
        .unwrap()
        .expect("the parent is alive");
    assert!(child.info.expires_at_ms <= parent.info.expires_at_ms, "a child never outlives its parent");
    let wider = md.create_api_token_under(parent.info.id, pid, "wider", &[ApiFamily::Export], 1000).await;
    assert!(matches!(wider, Err(MetadataError::Invalid(_))), "{wider:?}");
    for n in 0..3 {
        md.create_api_token(pid, &format!("t{n}"), &[ApiFamily::Export], 600_000, None).await.unwrap();
    }
    let one = md.list_api_tokens(pid, first(2)).await.unwrap();
    assert_eq!(one.items.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["t2", "t1"]);
    let two =
        md.list_api_tokens(pid, PageRequest { limit: 2, from: PageStart::After(one.next.unwrap()) }).await.unwrap();
    assert_eq!(two.items.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["t0", "child"]);
    assert!(two.has_previous && two.has_next);
    let back = md.list_api_tokens(pid, PageRequest { limit: 2, from: PageStart::Before(two.previous.unwrap()) }).await;
    assert_eq!(back.unwrap().items.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["t2", "t1"]);
    assert!(matches!(md.authenticate_api_token(&child.token).await.unwrap(), ApiTokenAuth::Valid { .. }));
    md.revoke_api_token(pid, parent.info.id).await.unwrap();
    assert!(matches!(md.authenticate_api_token(&child.token).await.unwrap(), ApiTokenAuth::Revoked));
    assert!(matches!(md.authenticate_api_token("sx_nothing").await.unwrap(), ApiTokenAuth::Invalid));

    // Cohorts, with the audit fields every saved object has.
    let owner = Actor { kind: ActorKind::ServiceAccount, id: Some(sa.id.0), name: sa.username.clone() };
    let definition = CohortDefinition { where_: Some(r#"properties["plan"] == "pro""#.into()), behaviors: vec![] };
    let cohort = md.create_cohort(pid, "Pro", "paying", &definition, &owner).await.unwrap();
    assert!(cohort.is_visible);
    assert_eq!(cohort.audit.creator.as_ref(), Some(&owner));
    assert_eq!(cohort.audit.modified_at_ms, cohort.audit.created_at_ms);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let changes = CohortChanges { name: Some("Pros".into()), is_visible: Some(false), ..CohortChanges::default() };
    let updated = md.update_cohort(pid, cohort.id, changes).await.unwrap();
    assert_eq!((updated.name.as_str(), updated.is_visible, updated.definition), ("Pros", false, definition));
    let reread = md.cohort(pid, cohort.id).await.unwrap();
    assert!(reread.audit.modified_at_ms > reread.audit.created_at_ms, "{:?}", reread.audit);
    assert_eq!(reread.audit, updated.audit);
    assert!(matches!(md.cohort(other.id, cohort.id).await, Err(MetadataError::NotFound(_))), "projects stay apart");
    assert_eq!(md.list_cohorts(pid, first(10)).await.unwrap().items.len(), 1);
    md.delete_cohort(pid, cohort.id).await.unwrap();
    assert!(md.all_cohorts(pid).await.unwrap().is_empty());

    // Funnels.
    let step = |event: &str| FunnelStep { event: event.into(), selector: None, label: None };
    let funnel: FunnelDefinition =
        serde_json::from_value(serde_json::json!({"steps": [{"event": "View"}, {"event": "Buy"}]})).unwrap();
    let saved = md.create_funnel(pid, "Checkout", &funnel, &Actor::cli()).await.unwrap();
    assert_eq!(saved.audit.creator, Some(Actor::cli()));
    let mut longer = funnel.clone();
    longer.steps.push(step("Review"));
    let changes = FunnelChanges { name: None, definition: Some(longer.clone()) };
    assert_eq!(md.update_funnel(pid, saved.id, changes).await.unwrap().definition, longer);
    assert_eq!(md.list_funnels(pid, first(10)).await.unwrap().items[0].id, saved.id);
    md.delete_funnel(pid, saved.id).await.unwrap();
    assert!(matches!(md.funnel(pid, saved.id).await, Err(MetadataError::NotFound(_))));

    // Saved reports.
    let params: BTreeMap<String, String> = [("event".to_string(), "View".to_string())].into();
    let report = md.create_bookmark(pid, "Views", "segmentation", &params, &Actor::project_secret()).await.unwrap();
    assert_eq!(report.audit.creator, Some(Actor::project_secret()));
    assert_eq!(md.bookmark(pid, report.id).await.unwrap().params, params);
    assert_eq!(md.list_bookmarks(pid, first(10)).await.unwrap().items.len(), 1);
    md.delete_bookmark(pid, report.id).await.unwrap();
    assert!(md.all_bookmarks(pid).await.unwrap().is_empty());

    // Lookup tables: mappings in byte order, a property mapped once, row counts summed.
    let map = |target: &str, property: &str| LookupMapping { target: target.into(), property: property.into() };
    let token = Actor { kind: ActorKind::ApiToken, id: Some(7), name: "ci".into() };
    let songs =
        md.create_lookup_table(pid, "Songs", &[map("event", "song_id"), map("event", "Zed")], &token).await.unwrap();
    assert_eq!(songs.audit.creator, Some(token.clone()));
    let taken = md.create_lookup_table(pid, "Again", &[map("event", "song_id")], &token).await;
    assert!(matches!(taken, Err(MetadataError::Conflict(_))), "{taken:?}");
    let albums = md.create_lookup_table(pid, "Albums", &[map("user", "album")], &token).await.unwrap();
    md.lookup_table_replaced(&songs.id, 40, &["song_id".into(), "title".into()]).await.unwrap();
    md.lookup_table_replaced(&albums.id, 2, &["album".into()]).await.unwrap();
    assert_eq!(md.lookup_rows_besides(pid, &albums.id).await.unwrap(), 40);
    let properties: Vec<String> =
        md.lookup_table(pid, &songs.id).await.unwrap().mappings.iter().map(|m| m.property.clone()).collect();
    assert_eq!(properties, ["Zed", "song_id"], "byte order, as SQLite sorts");
    let renamed = md
        .update_lookup_table(pid, &songs.id, LookupTableChanges { name: Some("Tracks".into()), mappings: None })
        .await
        .unwrap();
    assert_eq!(renamed.name, "Tracks");
    assert_eq!(md.lookup_mappings(pid).await.unwrap().len(), 3);
    assert_eq!(md.list_lookup_tables(pid, first(1)).await.unwrap().items[0].id, albums.id);
    md.delete_lookup_table(pid, &songs.id).await.unwrap();
    assert_eq!(md.lookup_mappings(pid).await.unwrap().len(), 1, "its mappings go with it");
    assert_eq!(md.all_lookup_tables(ProjectId(other.id.0)).await.unwrap().len(), 0);

    // The organisation's service accounts: made with project roles, managed by owners
    // and admins of the organisation only, deleted everywhere at once.
    let org = boot.organization_id;
    let auth = md.authenticate_org_admin(&sa.username, &sa.secret, org).await.unwrap();
    assert_eq!(
        auth,
        OrgAuth::Admin(sa.id, sa.username.clone(), Role::Owner),
        "the bootstrap account owns the organisation"
    );
    assert_eq!(md.authenticate_org_admin(&sa.username, "wrong", org).await.unwrap(), OrgAuth::Invalid);
    assert_eq!(md.authenticate_org_admin(&sa.username, &sa.secret, OrgId(org.0 + 1)).await.unwrap(), OrgAuth::Invalid);
    let (ci, ci_secret) = md
        .create_org_service_account(org, "ci bot", Role::Consumer, None, &[(pid, Role::Analyst)], &owner)
        .await
        .unwrap();
    assert_eq!(md.authenticate_org_admin(&ci.username, &ci_secret, org).await.unwrap(), OrgAuth::NotAdmin);
    assert_eq!(
        md.authenticate_service_account(&ci.username, &ci_secret, pid).await.unwrap(),
        ServiceAccountAuth::Role(Role::Analyst, ci.id)
    );
    md.add_to_projects(org, &[ci.id], &[(pid, Role::Admin), (other.id, Role::Consumer)]).await.unwrap();
    assert_eq!(
        md.authenticate_service_account(&ci.username, &ci_secret, other.id).await.unwrap(),
        ServiceAccountAuth::Role(Role::Consumer, ci.id)
    );
    assert!(matches!(
        md.add_to_projects(org, &[ServiceAccountId(9999)], &[(pid, Role::Admin)]).await,
        Err(MetadataError::Invalid(_))
    ));
    assert!(matches!(
        md.create_org_service_account(org, "x", Role::Admin, None, &[(ProjectId(9999), Role::Admin)], &owner).await,
        Err(MetadataError::Invalid(_))
    ));
    md.remove_from_projects(org, &[(other.id, vec![ci.id])]).await.unwrap();
    assert_eq!(
        md.authenticate_service_account(&ci.username, &ci_secret, other.id).await.unwrap(),
        ServiceAccountAuth::NoAccess
    );
    assert!(md.org_service_accounts(org).await.unwrap().iter().any(|a| a.id == ci.id));
    // Tokens made on its authority, and tokens made under those, die with it.
    let made = md.create_api_token(pid, "ci's", &[ApiFamily::Query], 600_000, Some(ci.id)).await.unwrap();
    let under =
        md.create_api_token_under(made.info.id, pid, "under", &[ApiFamily::Query], 1000).await.unwrap().unwrap();
    assert!(matches!(md.authenticate_api_token(&under.token).await.unwrap(), ApiTokenAuth::Valid { .. }));
    md.delete_org_service_account(org, ci.id).await.unwrap();
    for t in [&made.token, &under.token] {
        assert_eq!(md.authenticate_api_token(t).await.unwrap(), ApiTokenAuth::Revoked, "a deleted account's token");
    }
    assert_eq!(
        md.authenticate_service_account(&ci.username, &ci_secret, pid).await.unwrap(),
        ServiceAccountAuth::Invalid
    );
    assert!(matches!(md.org_service_account(org, ci.id).await, Err(MetadataError::NotFound(_))));

    // Annotations: dates in Mixpanel's form, ranges inclusive, tags by id.
    let launch = md.create_annotation_tag(pid, "launch").await.unwrap();
    assert_eq!(md.create_annotation_tag(pid, " launch ").await.unwrap(), launch, "a name names one tag");
    let outage = md.create_annotation_tag(pid, "outage").await.unwrap();
    let first = md.create_annotation(pid, "2026-01-02 09:30:00", "v2", &[launch.id], &owner).await.unwrap();
    assert_eq!((first.date.as_str(), first.tags.clone()), ("2026-01-02 09:30:00", vec![launch.clone()]));
    let second = md.create_annotation(pid, "2026-01-05", "down", &[], &owner).await.unwrap();
    assert_eq!(second.date, "2026-01-05 00:00:00");
    let unknown = md.create_annotation(pid, "2026-01-05", "x", &[999], &owner).await;
    assert!(matches!(unknown, Err(MetadataError::Invalid(_))), "{unknown:?}");
    let in_range = |from: Option<&'static str>, to: Option<&'static str>| async move {
        md.list_annotations(pid, from, to).await.unwrap().iter().map(|a| a.id).collect::<Vec<_>>()
    };
    assert_eq!(in_range(None, None).await, [first.id, second.id]);
    assert_eq!(in_range(Some("2026-01-03"), None).await, [second.id]);
    assert_eq!(in_range(None, Some("2026-01-02")).await, [first.id], "the last day is inclusive");
    let changes = AnnotationChanges { description: Some("v2.0".into()), tags: Some(vec![outage.id, outage.id]) };
    let changed = md.update_annotation(pid, first.id, changes).await.unwrap();
    assert_eq!((changed.description.as_str(), changed.tags.clone()), ("v2.0", vec![outage.clone()]));
    let tags = md.annotation_tags(pid).await.unwrap();
    assert_eq!(tags, [(launch.clone(), false), (outage.clone(), true)]);
    md.delete_annotation(pid, first.id).await.unwrap();
    assert!(matches!(md.annotation(pid, first.id).await, Err(MetadataError::NotFound(_))));
    assert!(matches!(md.delete_annotation(other.id, second.id).await, Err(MetadataError::NotFound(_))));
    assert_eq!(md.annotation_tags(pid).await.unwrap(), [(launch, false), (outage, false)]);
    feature_flags(md, pid).await;
    gdpr_jobs(md, pid, other.id).await;
    pipelines(md, pid, other.id).await;
    warehouse(md, pid).await;
    workspaces_and_deleting_projects(md, org, pid, analyst.id).await;
    md.ping().await.unwrap();
}

/// GDPR jobs: queued, claimed by one runner, staged, cancelled only before they start,
/// resumed only by their runner, finished with their counts; the opt-out list.
async fn gdpr_jobs(md: &Metadata, pid: ProjectId, other: ProjectId) {
    use sextant_model::gdpr::{JobKind, JobRequest, JobStatus};
    let request =
        |ids: &[&str]| JobRequest::parse(JobKind::Deletion, &serde_json::json!({"distinct_ids": ids})).unwrap();
    let a = md.create_gdpr_job(pid, JobKind::Deletion, &request(&["u1", "u2"]), "owner").await.unwrap();
    let b = md.create_gdpr_job(pid, JobKind::Deletion, &request(&["u3"]), "owner").await.unwrap();
    assert_eq!(a.status, JobStatus::Pending);
    assert_eq!(a.tracking_id.len(), 19);
    assert!(a.tracking_id.bytes().all(|c| c.is_ascii_digit()));
    // Two runners see the queue; one claims each job.
    let queued = |runner: &'static str| async move {
        md.unfinished_gdpr_jobs(runner).await.unwrap().into_iter().map(|j| j.tracking_id).collect::<Vec<_>>()
    };
    assert_eq!(queued("r1").await.len(), 2);
    assert!(md.claim_gdpr_job(&a.tracking_id, "r1").await.unwrap());
    assert!(!md.claim_gdpr_job(&a.tracking_id, "r2").await.unwrap());
    assert_eq!(queued("r2").await, std::slice::from_ref(&b.tracking_id), "another runner does not resume r1's job");
    md.stage_gdpr_job(&a.tracking_id, &["u1".into(), "u2".into(), "$device:d".into()]).await.unwrap();
    assert!(md.move_gdpr_job(&a.tracking_id, JobStatus::Staging, JobStatus::Started).await.unwrap());
    assert_eq!(md.cancel_gdpr_job(&a.tracking_id).await.unwrap(), JobStatus::Started, "too late to cancel");
    assert_eq!(md.cancel_gdpr_job(&b.tracking_id).await.unwrap(), JobStatus::Revoked);
    assert!(!md.claim_gdpr_job(&b.tracking_id, "r1").await.unwrap(), "a cancelled job is not claimed");
    md.gdpr_progress(&a.tracking_id, 1, 14, 2).await.unwrap();
    let resumed = md.unfinished_gdpr_jobs("r1").await.unwrap();
    assert_eq!(resumed.len(), 1);
    assert_eq!((resumed[0].next_chunk, resumed[0].events_touched), (1, 14));
    assert_eq!(resumed[0].erase_ids.as_deref().map(<[String]>::len), Some(3));
    md.finish_gdpr_job(&a.tracking_id, Ok(None)).await.unwrap();
    let done = md.gdpr_job(&a.tracking_id).await.unwrap();
    assert_eq!((done.status, done.erase_ids.clone(), done.profiles_touched), (JobStatus::Success, None, 2));
    assert!(done.finished_at_ms.is_some() && done.started_at_ms.is_some());
    assert!(md.unfinished_gdpr_jobs("r1").await.unwrap().is_empty());
    let listed: Vec<String> = md.gdpr_jobs(pid, 10).await.unwrap().into_iter().map(|j| j.tracking_id).collect();
    assert_eq!(listed.len(), 2);
    assert!(md.gdpr_jobs(other, 10).await.unwrap().is_empty());
    // A retrieval's archive, and its expiry.
    let r = md.create_gdpr_job(pid, JobKind::Retrieval, &request(&["u9"]), "owner").await.unwrap();
    assert!(md.claim_gdpr_job(&r.tracking_id, "r1").await.unwrap());
    assert!(md.move_gdpr_job(&r.tracking_id, JobStatus::Staging, JobStatus::Started).await.unwrap());
    md.finish_gdpr_job(&r.tracking_id, Ok(Some(("x.jsonl".into(), 1_000)))).await.unwrap();
    let expired = md.expired_gdpr_archives(2_000).await.unwrap();
    assert_eq!(expired, [(r.tracking_id.clone(), "x.jsonl".to_string())]);
    md.forget_gdpr_archive(&r.tracking_id).await.unwrap();
    assert!(md.expired_gdpr_archives(2_000).await.unwrap().is_empty());
    // The opt-out list.
    let before = md.opt_out_version().await.unwrap();
    assert_eq!(md.opt_out(pid, &["a".into(), "b".into(), "a".into()]).await.unwrap(), 2);
    assert_eq!(md.opt_out(other, &["a".into()]).await.unwrap(), 1);
    assert_ne!(md.opt_out_version().await.unwrap(), before);
    assert_eq!(md.opt_in(pid, &["a".into(), "zzz".into()]).await.unwrap(), 1);
    let all = md.all_opt_outs().await.unwrap();
    assert_eq!(all, [(pid, "b".to_string()), (other, "a".to_string())]);
    // A page at a time, in id order (bytes, on both backends), one project's only.
    md.opt_out(pid, &["B".into(), "c".into(), "a b".into()]).await.unwrap();
    assert_eq!(md.opt_outs_after(pid, "", 2).await.unwrap(), ["B", "a b"]);
    assert_eq!(md.opt_outs_after(pid, "a b", 10).await.unwrap(), ["b", "c"]);
    assert!(md.opt_outs_after(pid, "c", 10).await.unwrap().is_empty());
}

/// Warehouse connectors: a source, an import of it (its secret-free spec kept whole), a
/// manual sync's pending run taken by the runner, the watermark, a run stopped by a
/// stop, the history newest first, and the order of deletion.
async fn warehouse(md: &Metadata, pid: ProjectId) {
    use sextant_model::warehouse::{ImportSpec, ImportType, SourceSpec};
    let source =
        SourceSpec::parse(&serde_json::json!({"name": "dw", "type": "postgres", "url": "postgres://etl@h/db"}))
            .unwrap();
    let source = md.create_warehouse_source(pid, &source, &Actor::cli()).await.unwrap();
    let body = serde_json::json!({"import_type": "people", "warehouse_source_id": source.id, "table_params": {"table_name": "users"},
                                  "user_column_name": "id", "insert_time_column_name": "updated", "sync_mode": "time_based"});
    let spec = ImportSpec::parse(&body, ImportType::People, Some(source.spec.kind)).unwrap();
    let import = md.create_warehouse_import(pid, &spec, "r1", &Actor::cli()).await.unwrap();
    assert_eq!((import.spec.clone(), import.sync_requested, import.paused), (spec, true, false));
    assert!(matches!(md.delete_warehouse_source(pid, source.id).await, Err(MetadataError::Conflict(_))));
    let first = md.start_warehouse_run(&import).await.unwrap();
    md.set_warehouse_watermark(import.id, "2026-12-01 10:00:00+00").await.unwrap();
    md.finish_warehouse_run(first, "SUCCEEDED", 12, None).await.unwrap();
    let pending = md.request_warehouse_sync(pid, import.id).await.unwrap();
    assert_eq!(md.request_warehouse_sync(pid, import.id).await.unwrap(), pending, "one run waits");
    let stored = md.warehouse_import(pid, import.id).await.unwrap();
    assert_eq!((stored.watermark.as_deref(), stored.sync_requested), (Some("2026-12-01 10:00:00+00"), true));
    assert_eq!(md.start_warehouse_run(&stored).await.unwrap(), pending, "the pending run is the one started");
    md.fail_unfinished_warehouse_runs("r1").await.unwrap();
    let runs = md.warehouse_runs(pid, import.id).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(), ["FAILED", "SUCCEEDED"]);
    assert_eq!(runs[1].imported, Some(12));
    let changed = md.update_warehouse_import(pid, import.id, true, 0).await.unwrap();
    assert_eq!((changed.paused, changed.run_every), (true, 0));
    assert_eq!(md.runner_warehouse_imports("r1").await.unwrap().len(), 1);
    md.delete_warehouse_import(pid, import.id).await.unwrap();
    assert!(matches!(md.warehouse_runs(pid, import.id).await, Err(MetadataError::NotFound(_))));
    md.delete_warehouse_source(pid, source.id).await.unwrap();
    // Left for the project's deletion to clear.
    md.create_warehouse_source(pid, &source.spec, &Actor::cli()).await.unwrap();
}

/// Data pipelines: names unique in a project, pause and resume, edits, each
/// partition's one row through retries, the publications kept apart, cancel.
async fn pipelines(md: &Metadata, pid: ProjectId, other: ProjectId) {
    use sextant_model::pipeline::{PipelineSpec, TaskState};
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
    let form = [("type", "fs-raw"), ("from_date", "2026-12-01")].map(|(k, v)| (k.to_string(), v.to_string()));
    let spec = PipelineSpec::parse(&form, today).unwrap();
    let made = md.create_pipeline(pid, "p1", &spec, "r1", "owner").await.unwrap();
    assert!(made.running && made.last_dispatched_ms.is_none());
    assert!(matches!(md.create_pipeline(pid, "p1", &spec, "r1", "owner").await, Err(MetadataError::Conflict(_))));
    md.create_pipeline(other, "p1", &spec, "r2", "owner").await.unwrap();
    assert_eq!(md.running_pipelines("r1").await.unwrap().len(), 1);
    md.set_pipeline_running(pid, "p1", false).await.unwrap();
    assert!(md.running_pipelines("r1").await.unwrap().is_empty());
    md.set_pipeline_running(pid, "p1", true).await.unwrap();
    let mut edited = spec.clone();
    edited.events = vec!["A".into()];
    md.replace_pipeline_spec(pid, "p1", &edited).await.unwrap();
    assert_eq!(md.pipeline(pid, "p1").await.unwrap().spec, edited);
    // A partition tried twice: one row, two attempts, one publication.
    md.start_pipeline_task(pid, "p1", 1_000).await.unwrap();
    md.finish_pipeline_task(pid, "p1", 1_000, Err((TaskState::Retried, "disk".into()))).await.unwrap();
    md.start_pipeline_task(pid, "p1", 1_000).await.unwrap();
    let done = |events: i64, digest: &str, tables: Option<Vec<String>>| {
        Ok(TaskDone { events, digest: digest.into(), published: true, tables })
    };
    md.finish_pipeline_task(pid, "p1", 1_000, done(7, "abc", Some(vec!["buy".into()]))).await.unwrap();
    let tasks = md.pipeline_tasks(pid, "p1").await.unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].tables, ["buy"]);
    assert_eq!((tasks[0].state, tasks[0].attempts, tasks[0].events), (TaskState::Succeeded, 2, 7));
    assert_eq!((tasks[0].digest.as_deref(), tasks[0].error.as_deref()), (Some("abc"), None));
    assert!(md.pipeline(pid, "p1").await.unwrap().last_dispatched_ms.is_some());
    assert_eq!(md.pipeline_syncs(pid, "p1").await.unwrap().len(), 1);
    // A failed partition is given another round (after an edit or a resume).
    md.start_pipeline_task(pid, "p1", 2_000).await.unwrap();
    md.finish_pipeline_task(pid, "p1", 2_000, Err((TaskState::Failed, "bad where".into()))).await.unwrap();
    assert_eq!(md.retry_pipeline_tasks(pid, "p1").await.unwrap(), 1);
    let retried = md.pipeline_tasks(pid, "p1").await.unwrap();
    assert_eq!((retried[1].state, retried[1].attempts), (TaskState::Retried, 0));
    md.delete_pipeline(pid, "p1").await.unwrap();
    let gone = async || {
        md.pipeline_tasks(pid, "p1").await.unwrap().is_empty() && md.pipeline_syncs(pid, "p1").await.unwrap().is_empty()
    };
    assert!(gone().await);
    // A runner that finishes a partition after the cancel leaves nothing behind.
    md.start_pipeline_task(pid, "p1", 3_000).await.unwrap();
    md.finish_pipeline_task(pid, "p1", 3_000, done(1, "d", None)).await.unwrap();
    assert!(gone().await);
    assert_eq!(md.all_pipelines().await.unwrap().len(), 1);
    assert!(matches!(md.pipeline(pid, "p1").await, Err(MetadataError::NotFound(_))));
    assert_eq!(md.pipelines(other).await.unwrap().len(), 1, "another project's pipeline stays");
}

/// Feature flags: a salt drawn on creation and kept on replacement, keys unique among
/// live flags, archiving, the version every change raises, and what is enabled.
async fn feature_flags(md: &Metadata, pid: ProjectId) {
    let workspace = md.workspaces(pid).await.unwrap()[0].id;
    let spec = |key: &str, status: &str| -> sextant_flags::FlagSpec {
        serde_json::from_value(serde_json::json!({
            "name": "Checkout", "key": key, "context": "distinct_id", "serving_method": "server", "status": status,
            "ruleset": {"variants": [{"key": "on", "value": true, "is_control": false, "split": 1.0}],
                        "rollout": [{"rollout_percentage": 1.0}]}
        }))
        .unwrap()
    };
    let versions =
        || async move { md.flag_versions().await.unwrap().into_iter().find(|(p, _)| *p == pid).map_or(0, |(_, v)| v) };
    let before = versions().await;
    let made = md.create_flag(pid, workspace, spec("checkout", "enabled"), &Actor::cli()).await.unwrap();
    let salt = made.spec.hash_salt.clone().unwrap();
    assert_eq!(salt.len(), 32);
    assert!(made.enabled_at_ms.is_some() && made.deleted_at_ms.is_none());
    assert_eq!(versions().await, before + 1);
    let taken = md.create_flag(pid, workspace, spec("checkout", "disabled"), &Actor::cli()).await;
    assert!(matches!(taken, Err(MetadataError::Conflict(_))), "{taken:?}");
    let mut broken = spec("broken", "enabled");
    broken.ruleset.rollout[0].rollout_percentage = 2.0;
    assert!(matches!(md.create_flag(pid, workspace, broken, &Actor::cli()).await, Err(MetadataError::Invalid(_))));
    assert!(matches!(
        md.create_flag(pid, 999_999, spec("x", "enabled"), &Actor::cli()).await,
        Err(MetadataError::NotFound(_))
    ));

    // Replaced without a salt: the salt is kept; with `reset`, a new one.
    let kept =
        md.update_flag(pid, &made.id, spec("checkout", "disabled"), false, &Actor::project_secret()).await.unwrap();
    assert_eq!(kept.spec.hash_salt.as_deref(), Some(salt.as_str()));
    assert_eq!(kept.modifier.as_ref().map(|a| a.kind), Some(ActorKind::ProjectSecret));
    let (version, enabled) = md.enabled_flags(pid).await.unwrap();
    assert!(enabled.is_empty());
    assert_eq!(version, versions().await);
    let reset = md.update_flag(pid, &made.id, spec("checkout", "enabled"), true, &Actor::cli()).await.unwrap();
    assert_ne!(reset.spec.hash_salt.as_deref(), Some(salt.as_str()));
    assert_eq!(md.enabled_flags(pid).await.unwrap().1.len(), 1);

    // Archived: out of the list unless asked for, its key free again.
    md.archive_flag(pid, &made.id, &Actor::cli()).await.unwrap();
    assert!(md.list_flags(pid, workspace, false).await.unwrap().is_empty());
    let archived = md.list_flags(pid, workspace, true).await.unwrap();
    assert!(archived[0].deleted_at_ms.is_some() && archived[0].spec.status == sextant_flags::FlagStatus::Archived);
    let again = md.create_flag(pid, workspace, spec("checkout", "enabled"), &Actor::cli()).await.unwrap();
    assert_ne!(again.id, made.id);
    assert!(matches!(md.flag(pid, "no-such-flag").await, Err(MetadataError::NotFound(_))));
    md.archive_flag(pid, &again.id, &Actor::cli()).await.unwrap();

    // Experiments: a draft, saved as the caller moved it, archived, deleted.
    let spec = sextant_flags::ExperimentSpec { name: "New checkout".into(), ..Default::default() };
    let mut e = md.create_experiment(pid, workspace, &spec, &Actor::cli()).await.unwrap();
    assert_eq!(e.status, sextant_flags::ExperimentStatus::Draft);
    assert_eq!(md.workspace_project(workspace).await.unwrap(), pid);
    e.status = sextant_flags::ExperimentStatus::Active;
    e.start_ms = Some(1_700_000_000_000);
    e.deleted_at_ms = Some(1_700_000_000_001);
    let saved = md.save_experiment(&e, &Actor::project_secret()).await.unwrap();
    assert_eq!((saved.status, saved.start_ms), (sextant_flags::ExperimentStatus::Active, Some(1_700_000_000_000)));
    assert!(md.list_experiments(pid, workspace, false).await.unwrap().is_empty());
    assert_eq!(md.list_experiments(pid, workspace, true).await.unwrap().len(), 1);
    let unnamed = sextant_flags::ExperimentSpec::default();
    assert!(matches!(
        md.create_experiment(pid, workspace, &unnamed, &Actor::cli()).await,
        Err(MetadataError::Invalid(_))
    ));
    md.delete_experiment(pid, &e.id).await.unwrap();
    assert!(matches!(md.experiment(pid, &e.id).await, Err(MetadataError::NotFound(_))));
}

/// Workspaces: the default one, restricted ones with members, their limits; then a
/// project deleted with everything the control plane kept for it.
async fn workspaces_and_deleting_projects(md: &Metadata, org: OrgId, pid: ProjectId, analyst: ServiceAccountId) {
    let all = md.workspaces(pid).await.unwrap();
    assert_eq!(all.len(), 1);
    let default = &all[0];
    assert!(default.is_default && default.visibility.is_everything() && default.name == "All Project Data");
    let body = serde_json::json!({"name": "Sales", "events": ["Purchase"], "hidden_properties": ["email"],
        "members": [analyst.0]});
    let sales =
        md.create_workspace(pid, &WorkspaceChange::from_json(&body, true).unwrap(), &Actor::cli()).await.unwrap();
    assert!(sales.visibility.shows_event("Purchase") && !sales.visibility.shows_event("Login"));
    assert_eq!(sales.members, [analyst]);
    assert_eq!(md.confinement(pid, analyst).await.unwrap(), [sales.id]);
    let stranger = WorkspaceChange::from_json(&serde_json::json!({"name": "x", "members": [99_999]}), true).unwrap();
    assert!(matches!(md.create_workspace(pid, &stranger, &Actor::cli()).await, Err(MetadataError::Invalid(_))));
    let restrict = WorkspaceChange::from_json(&serde_json::json!({"events": ["A"]}), false).unwrap();
    assert!(matches!(md.update_workspace(pid, default.id, &restrict).await, Err(MetadataError::Invalid(_))));
    assert!(matches!(md.delete_workspace(pid, default.id).await, Err(MetadataError::Conflict(_))));
    let open = WorkspaceChange::from_json(&serde_json::json!({"events": null, "members": []}), false).unwrap();
    let opened = md.update_workspace(pid, sales.id, &open).await.unwrap();
    assert!(opened.visibility.events.is_none() && opened.members.is_empty());
    assert!(md.confinement(pid, analyst).await.unwrap().is_empty());
    let page = md.page_workspaces(pid, first(1)).await.unwrap();
    assert_eq!((page.items[0].id, page.has_next), (sales.id, true), "newest first");
    md.delete_workspace(pid, sales.id).await.unwrap();
    assert!(matches!(md.workspace(pid, sales.id).await, Err(MetadataError::NotFound(_))));

    // A project with objects of every kind goes with all of them.
    let settings = ProjectChanges { name: Some("Doomed".into()), ..Default::default() };
    let doomed = md.create_project_with(org, &settings).await.unwrap().project;
    let page = md.page_projects(org, first(1)).await.unwrap();
    assert_eq!((page.items[0].id, page.has_next), (doomed.id, true), "newest first");
    md.add_to_projects(org, &[analyst], &[(doomed.id, Role::Consumer)]).await.unwrap();
    let change = WorkspaceChange::from_json(&body, true).unwrap();
    let confined = md.create_workspace(doomed.id, &change, &Actor::cli()).await.unwrap();
    assert_eq!(md.confinement(doomed.id, analyst).await.unwrap(), [confined.id]);
    md.create_api_token(doomed.id, "t", &[ApiFamily::Query], 600_000, None).await.unwrap();
    md.create_annotation(doomed.id, "2026-01-05", "x", &[], &Actor::cli()).await.unwrap();
    let flag: sextant_flags::FlagSpec = serde_json::from_value(serde_json::json!({
        "name": "F", "key": "f", "context": "device_id", "serving_method": "client",
        "ruleset": {"variants": [{"key": "a", "value": 1, "is_control": true, "split": 1.0}], "rollout": []}
    }))
    .unwrap();
    // A workspace holding a live flag is not deleted under it.
    md.create_flag(doomed.id, confined.id, flag, &Actor::cli()).await.unwrap();
    assert!(matches!(md.delete_workspace(doomed.id, confined.id).await, Err(MetadataError::Conflict(_))));
    md.delete_project(doomed.id).await.unwrap();
    assert!(md.project(doomed.id).await.unwrap().is_none());
    assert!(md.workspaces(doomed.id).await.unwrap().is_empty());
    assert!(md.confinement(doomed.id, analyst).await.unwrap().is_empty());
    assert!(matches!(md.delete_project(doomed.id).await, Err(MetadataError::NotFound(_))));
}
