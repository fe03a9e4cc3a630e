//! Behaviour every [`Store`] backend must share, written once against `&dyn Store` and run
//! per backend (SQLite always).

use super::*;
use sqlx::PgPool;

fn service(n: u32, account: &str) -> Service {
    Service {
        seq: 0,
        sid: crate::domain::sid::generate(crate::domain::sid::Prefix::Service),
        account_sid: account.to_owned(),
        friendly_name: format!("Service {n}"),
        unique_name: format!("svc-{n}"),
        include_credentials: true,
        ui_editable: false,
        domain_base: format!("svc-{n}-{n:04}"),
        date_created: 1_000 + i64::from(n),
        date_updated: 1_000 + i64::from(n),
    }
}

fn container(service: &Service, name: &str) -> Container {
    Container {
        seq: 0,
        sid: crate::domain::sid::generate(crate::domain::sid::Prefix::Container),
        account_sid: service.account_sid.clone(),
        service_sid: service.sid.clone(),
        friendly_name: name.to_owned(),
        date_created: 5,
        date_updated: 5,
    }
}

const ACCOUNT: &str = "AC00000000000000000000000000000001";

async fn with_account(store: &dyn Store) {
    store
        .upsert_account(&Account {
            sid: ACCOUNT.into(),
            auth_token: "t1".into(),
        })
        .await
        .unwrap();
}

/// Runs every check against `store`, which must be empty.
pub async fn suite(store: &dyn Store) {
    leases_and_holds(store).await;
    accounts(store).await;
    subaccounts_and_keys(store).await;
    console_sessions(store).await;
    services(store).await;
    containers_and_paging(store).await;
    versions(store).await;
    deploy_side(store).await;
    cascade(store).await;
}

async fn leases_and_holds(store: &dyn Store) {
    // A lease is its holder's until it runs out; the holder renews it.
    assert!(store.take_lease("gc", "a", 100, 160).await.unwrap());
    assert!(!store.take_lease("gc", "b", 150, 210).await.unwrap());
    assert!(store.take_lease("gc", "a", 150, 210).await.unwrap());
    assert!(store.take_lease("other", "b", 150, 210).await.unwrap());
    assert!(store.take_lease("gc", "b", 211, 270).await.unwrap());
    assert!(!store.take_lease("gc", "a", 212, 270).await.unwrap());

    // A hold saves content from being marked; a mark refuses holds until cleared.
    let held = "a".repeat(64);
    let loose = "b".repeat(64);
    assert!(store.hold_blob(&held, "upload-1", 500).await.unwrap());
    let doomed = store
        .doom_blobs(&[held.clone(), loose.clone()], 400)
        .await
        .unwrap();
    assert_eq!(doomed, vec![loose.clone()]);
    assert!(!store.hold_blob(&loose, "upload-2", 500).await.unwrap());
    store.clear_doomed(&doomed).await.unwrap();
    assert!(store.hold_blob(&loose, "upload-2", 500).await.unwrap());
    // Released or expired holds save nothing.
    store.release_blob(&held, "upload-1").await.unwrap();
    let doomed = store
        .doom_blobs(&[held.clone(), loose.clone()], 501)
        .await
        .unwrap();
    assert_eq!(doomed.len(), 2);
    store.clear_doomed(&doomed).await.unwrap();
}

async fn accounts(store: &dyn Store) {
    assert!(store.first_account().await.unwrap().is_none());
    with_account(store).await;
    let replaced = Account {
        sid: ACCOUNT.into(),
        auth_token: "t2".into(),
    };
    store.upsert_account(&replaced).await.unwrap();
    assert_eq!(
        store.account(ACCOUNT).await.unwrap().unwrap().auth_token,
        "t2"
    );
    assert!(store.account("ACnope").await.unwrap().is_none());
    assert_eq!(store.first_account().await.unwrap().unwrap().sid, ACCOUNT);
}

fn subaccount(n: u32) -> AccountRecord {
    AccountRecord {
        seq: 0,
        sid: crate::domain::sid::generate(crate::domain::sid::Prefix::Account),
        auth_token: format!("token{n}"),
        friendly_name: format!("Sub {n}"),
        status: AccountStatus::Active,
        owner_account_sid: Some(ACCOUNT.into()),
        date_created: 10 + i64::from(n),
        date_updated: 10 + i64::from(n),
    }
}

fn api_key(account: &str, n: u32) -> ApiKey {
    ApiKey {
        seq: 0,
        sid: format!("SK{n:032x}"),
        account_sid: account.to_owned(),
        friendly_name: n.is_multiple_of(2).then(|| format!("key {n}")),
        secret_hash: format!("{n:064x}"),
        date_created: 20,
        date_updated: 20,
    }
}

async fn subaccounts_and_keys(store: &dyn Store) {
    // The main account (made by `upsert_account`) has no owner and is active.
    let main = store.account_record(ACCOUNT).await.unwrap().unwrap();
    assert_eq!(main.owner_account_sid, None);
    assert_eq!(main.status, AccountStatus::Active);
    assert!(store.account_record("ACnope").await.unwrap().is_none());

    let one = store.create_account(&subaccount(1)).await.unwrap();
    let two = store.create_account(&subaccount(2)).await.unwrap();
    assert!(one.seq > main.seq && two.seq > one.seq);
    assert_eq!(one.owner_account_sid.as_deref(), Some(ACCOUNT));
    assert_eq!(
        store.account(&two.sid).await.unwrap().unwrap().auth_token,
        "token2"
    );
    // A subaccount never becomes the bootstrap account.
    assert_eq!(store.first_account().await.unwrap().unwrap().sid, ACCOUNT);
    let orphan = AccountRecord {
        owner_account_sid: Some("AC0000000000000000000000000000dead".into()),
        ..subaccount(3)
    };
    assert!(matches!(
        store.create_account(&orphan).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.create_account(&one).await,
        Err(StoreError::Conflict(_))
    ));

    // The family: the main account first, then its subaccounts, paged by keyset.
    let first = PageRequest {
        cursor: Cursor::Offset(0),
        size: 2,
    };
    let everyone = AccountFilter::default();
    let family = AccountScope::Family(ACCOUNT);
    let page = store
        .list_account_records(family, &everyone, first)
        .await
        .unwrap();
    let sids: Vec<_> = page.items.iter().map(|a| a.sid.as_str()).collect();
    assert_eq!(sids, [ACCOUNT, one.sid.as_str()]);
    assert!(page.has_next);
    let next = PageRequest {
        cursor: Cursor::After(page.items[1].seq),
        size: 2,
    };
    let page = store
        .list_account_records(family, &everyone, next)
        .await
        .unwrap();
    assert_eq!(page.items, vec![two.clone()]);
    assert!(!page.has_next);
    let alone = store
        .list_account_records(AccountScope::Only(&one.sid), &everyone, first)
        .await
        .unwrap();
    assert_eq!(alone.items, vec![one.clone()]);
    let named = AccountFilter {
        friendly_name: Some("Sub 2"),
        status: None,
    };
    let page = store
        .list_account_records(family, &named, first)
        .await
        .unwrap();
    assert_eq!(page.items, vec![two.clone()]);

    // Updates; closed is final whatever a later update says.
    let suspended = store
        .update_account(
            &one.sid,
            &AccountPatch {
                friendly_name: None,
                status: Some(AccountStatus::Suspended),
            },
            30,
        )
        .await
        .unwrap();
    assert_eq!(suspended.status, AccountStatus::Suspended);
    assert_eq!(suspended.friendly_name, "Sub 1");
    assert_eq!(suspended.date_updated, 30);
    let by_status = AccountFilter {
        friendly_name: None,
        status: Some(AccountStatus::Suspended),
    };
    let page = store
        .list_account_records(family, &by_status, first)
        .await
        .unwrap();
    assert_eq!(page.items, vec![suspended.clone()]);
    let closed = store
        .update_account(
            &two.sid,
            &AccountPatch {
                friendly_name: Some("Gone".into()),
                status: Some(AccountStatus::Closed),
            },
            31,
        )
        .await
        .unwrap();
    assert_eq!(
        (closed.status, closed.friendly_name.as_str()),
        (AccountStatus::Closed, "Gone")
    );
    let still = store
        .update_account(
            &two.sid,
            &AccountPatch {
                friendly_name: None,
                status: Some(AccountStatus::Active),
            },
            32,
        )
        .await
        .unwrap();
    assert_eq!(still.status, AccountStatus::Closed);
    assert!(matches!(
        store
            .update_account(
                "AC0000000000000000000000000000dead",
                &AccountPatch::default(),
                1
            )
            .await,
        Err(StoreError::NotFound)
    ));

    // Keys: per account, creation order, renamed, deleted.
    let k1 = store.create_key(&api_key(&one.sid, 1)).await.unwrap();
    let k2 = store.create_key(&api_key(&one.sid, 2)).await.unwrap();
    let other = store.create_key(&api_key(ACCOUNT, 3)).await.unwrap();
    assert_eq!(k1.friendly_name, None);
    assert!(matches!(
        store
            .create_key(&api_key("AC0000000000000000000000000000dead", 4))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.key(&one.sid, &k2.sid).await.unwrap(), k2);
    assert!(matches!(
        store.key(&one.sid, &other.sid).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .key_for_auth(&other.sid)
            .await
            .unwrap()
            .unwrap()
            .account_sid,
        ACCOUNT
    );
    let page = store.list_keys(&one.sid, first).await.unwrap();
    assert_eq!(page.items, vec![k1.clone(), k2.clone()]);
    assert!(!page.has_next);
    let renamed = store
        .rename_key(&one.sid, &k1.sid, Some("named"), 40)
        .await
        .unwrap();
    assert_eq!(
        (renamed.friendly_name.as_deref(), renamed.date_updated),
        (Some("named"), 40)
    );
    let kept = store.rename_key(&one.sid, &k1.sid, None, 41).await.unwrap();
    assert_eq!(kept.friendly_name.as_deref(), Some("named"));
    assert!(matches!(
        store.rename_key(ACCOUNT, &k1.sid, Some("x"), 42).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_key(ACCOUNT, &k1.sid).await,
        Err(StoreError::NotFound)
    ));
    store.delete_key(&one.sid, &k1.sid).await.unwrap();
    assert!(store.key_for_auth(&k1.sid).await.unwrap().is_none());
    assert!(matches!(
        store.delete_key(&one.sid, &k1.sid).await,
        Err(StoreError::NotFound)
    ));
    store.delete_key(ACCOUNT, &other.sid).await.unwrap();
}

async fn console_sessions(store: &dyn Store) {
    let session = |id: &str, expires: i64| ConsoleSession {
        id_hash: id.to_owned(),
        account_sid: ACCOUNT.into(),
        key_sid: None,
        csrf_token: format!("csrf-{id}"),
        date_created: 100,
        expires,
    };
    store
        .create_console_session(&session("old", 150), 100)
        .await
        .unwrap();
    store
        .create_console_session(&session("live", 500), 100)
        .await
        .unwrap();
    let found = store.console_session("live", 200).await.unwrap();
    assert_eq!(found, Some(session("live", 500)));
    // Expired is gone for readers at once, and from the table at the next sign-in.
    assert_eq!(store.console_session("old", 200).await.unwrap(), None);
    assert_eq!(store.console_session("live", 500).await.unwrap(), None);
    store
        .create_console_session(&session("next", 900), 200)
        .await
        .unwrap();
    assert_eq!(store.console_session("old", 0).await.unwrap(), None);
    // Signing out deletes; deleting again is no error.
    store.delete_console_session("live").await.unwrap();
    assert_eq!(store.console_session("live", 200).await.unwrap(), None);
    store.delete_console_session("live").await.unwrap();
}

async fn services(store: &dyn Store) {
    let a = store.create_service(&service(1, ACCOUNT), 3).await.unwrap();
    assert!(a.seq > 0);
    let same_name = Service {
        domain_base: "other-0001".into(),
        ..service(1, ACCOUNT)
    };
    assert!(matches!(
        store.create_service(&same_name, 0).await,
        Err(StoreError::Conflict(Unique::ServiceUniqueName))
    ));
    let same_domain = Service {
        unique_name: "fresh".into(),
        ..service(1, ACCOUNT)
    };
    assert!(matches!(
        store.create_service(&same_domain, 0).await,
        Err(StoreError::Conflict(Unique::ServiceDomainBase))
    ));
    store.create_service(&service(2, ACCOUNT), 3).await.unwrap();
    store.create_service(&service(3, ACCOUNT), 3).await.unwrap();
    assert!(matches!(
        store.create_service(&service(4, ACCOUNT), 3).await,
        Err(StoreError::LimitReached)
    ));

    let by_name = store
        .service(ACCOUNT, ServiceKey::UniqueName("svc-1"))
        .await
        .unwrap();
    assert_eq!(by_name, a);
    assert!(matches!(
        store.service("ACother", ServiceKey::Sid(&a.sid)).await,
        Err(StoreError::NotFound)
    ));

    let patch = ServicePatch {
        friendly_name: Some("Renamed".into()),
        include_credentials: None,
        ui_editable: Some(true),
    };
    let updated = store.update_service(&a.sid, &patch, 9_999).await.unwrap();
    let reread = store
        .service(ACCOUNT, ServiceKey::Sid(&a.sid))
        .await
        .unwrap();
    assert_eq!(reread, updated);
    assert_eq!(updated.friendly_name, "Renamed");
    assert!(updated.include_credentials && updated.ui_editable);
    assert_eq!(updated.date_updated, 9_999);
    assert_eq!(updated.date_created, a.date_created);

    let page = store
        .list_services(
            ACCOUNT,
            PageRequest {
                cursor: Cursor::Offset(0),
                size: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.has_next);
    for s in ["svc-2", "svc-3"] {
        let found = store
            .service(ACCOUNT, ServiceKey::UniqueName(s))
            .await
            .unwrap();
        store.delete_service(&found.sid).await.unwrap();
    }
    assert!(matches!(
        store.delete_service("ZSnope").await,
        Err(StoreError::NotFound)
    ));
}

async fn containers_and_paging(store: &dyn Store) {
    let svc = store
        .service(ACCOUNT, ServiceKey::UniqueName("svc-1"))
        .await
        .unwrap();
    let mut sids = Vec::new();
    for i in 0..7 {
        let c = store
            .create_container(ContainerKind::Asset, &container(&svc, &format!("a{i}")))
            .await
            .unwrap();
        sids.push(c);
    }
    // Functions live apart from Assets.
    let f = store
        .create_container(ContainerKind::Function, &container(&svc, "f"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .container(ContainerKind::Asset, &svc.sid, &f.sid)
            .await,
        Err(StoreError::NotFound)
    ));
    // A service and its container in one lookup, by SID or unique name, in its account only.
    let both = store
        .service_container(
            ACCOUNT,
            ServiceKey::Sid(&svc.sid),
            ContainerKind::Function,
            &f.sid,
        )
        .await
        .unwrap();
    assert_eq!(both, (svc.clone(), f.clone()));
    let by_name = store
        .service_container(
            ACCOUNT,
            ServiceKey::UniqueName("svc-1"),
            ContainerKind::Asset,
            &sids[0].sid,
        )
        .await
        .unwrap();
    assert_eq!(by_name, (svc.clone(), sids[0].clone()));
    for (account, kind) in [
        ("AC00000000000000000000000000000009", ContainerKind::Asset),
        (ACCOUNT, ContainerKind::Function),
    ] {
        assert!(matches!(
            store
                .service_container(account, ServiceKey::Sid(&svc.sid), kind, &sids[0].sid)
                .await,
            Err(StoreError::NotFound)
        ));
    }

    let service_sid = svc.sid.as_str();
    let read = |cursor| async move {
        store
            .list_containers(
                ContainerKind::Asset,
                service_sid,
                PageRequest { cursor, size: 3 },
            )
            .await
            .unwrap()
    };
    let first = read(Cursor::Offset(0)).await;
    assert_eq!(first.items, sids[..3]);
    assert!(first.has_next);
    let second = read(Cursor::After(first.items[2].seq)).await;
    assert_eq!(second.items, sids[3..6]);
    let last = read(Cursor::After(second.items[2].seq)).await;
    assert_eq!(last.items, sids[6..]);
    assert!(!last.has_next);
    let back = read(Cursor::Before(last.items[0].seq)).await;
    assert_eq!(back.items, sids[3..6]);
    assert!(back.has_next);
    let offset = read(Cursor::Offset(6)).await;
    assert_eq!(offset.items, sids[6..]);
    assert!(read(Cursor::Offset(60)).await.items.is_empty());

    let renamed = store
        .rename_container(ContainerKind::Asset, &svc.sid, &sids[0].sid, "new", 77)
        .await
        .unwrap();
    assert_eq!(
        (renamed.friendly_name.as_str(), renamed.date_updated),
        ("new", 77)
    );
    store
        .delete_container(ContainerKind::Asset, &svc.sid, &sids[0].sid)
        .await
        .unwrap();
    assert!(matches!(
        store
            .delete_container(ContainerKind::Asset, &svc.sid, &sids[0].sid)
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn versions(store: &dyn Store) {
    let svc = store
        .service(ACCOUNT, ServiceKey::UniqueName("svc-1"))
        .await
        .unwrap();
    let asset = store
        .create_container(ContainerKind::Asset, &container(&svc, "v"))
        .await
        .unwrap();
    let version = |n: u32| Version {
        seq: 0,
        sid: crate::domain::sid::generate(crate::domain::sid::Prefix::Version),
        account_sid: ACCOUNT.into(),
        service_sid: svc.sid.clone(),
        container_sid: asset.sid.clone(),
        path: format!("/v{n}"),
        visibility: Visibility::Public,
        content_type: "text/plain".into(),
        size: i64::from(n),
        sha256: format!("{n:064x}"),
        date_created: 1,
    };
    let first = store
        .create_version(ContainerKind::Asset, &version(1))
        .await
        .unwrap();
    let second = store
        .create_version(ContainerKind::Asset, &version(2))
        .await
        .unwrap();
    assert_eq!(first.container_sid, asset.sid);
    assert_eq!(
        store
            .version(ContainerKind::Asset, &asset.sid, &first.sid)
            .await
            .unwrap(),
        first
    );
    // Kinds do not mix.
    assert!(matches!(
        store
            .version(ContainerKind::Function, &asset.sid, &first.sid)
            .await,
        Err(StoreError::NotFound)
    ));
    // The console reads every version of a Service at once, oldest first, bounded.
    let of_service = store
        .list_service_versions(ContainerKind::Asset, &svc.sid, 10)
        .await
        .unwrap();
    let sids: Vec<&str> = of_service.iter().map(|v| v.sid.as_str()).collect();
    assert_eq!(sids, [first.sid.as_str(), second.sid.as_str()]);
    assert_eq!(
        store
            .list_service_versions(ContainerKind::Asset, &svc.sid, 1)
            .await
            .unwrap(),
        std::slice::from_ref(&first)
    );
    assert!(store
        .list_service_versions(ContainerKind::Function, &svc.sid, 10)
        .await
        .unwrap()
        .is_empty());
    let page = store
        .list_versions(
            ContainerKind::Asset,
            &asset.sid,
            PageRequest {
                cursor: Cursor::Offset(0),
                size: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!((page.items, page.has_next), (vec![first.clone()], true));
    let mut blobs = store.referenced_blobs().await.unwrap();
    blobs.sort();
    assert_eq!(blobs, vec![first.sha256.clone(), second.sha256.clone()]);
    // A version of a vanished asset is refused, and deleting an asset removes its versions.
    store
        .delete_container(ContainerKind::Asset, &svc.sid, &asset.sid)
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_version(ContainerKind::Asset, &version(3))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(store.referenced_blobs().await.unwrap().is_empty());
}

fn environment(svc: &Service, name: &str, suffix: Option<&str>) -> Environment {
    Environment {
        seq: 0,
        sid: crate::domain::sid::generate(crate::domain::sid::Prefix::Environment),
        account_sid: ACCOUNT.into(),
        service_sid: svc.sid.clone(),
        build_sid: None,
        unique_name: name.into(),
        domain_suffix: suffix.map(str::to_owned),
        domain_name: format!("{}-{}.localhost", svc.domain_base, suffix.unwrap_or("none")),
        date_created: 10,
        date_updated: 10,
    }
}

fn build(svc: &Service, now: i64) -> Build {
    Build {
        seq: 0,
        sid: crate::domain::sid::generate(crate::domain::sid::Prefix::Build),
        account_sid: ACCOUNT.into(),
        service_sid: svc.sid.clone(),
        status: BuildStatus::Building,
        runtime: "node22".into(),
        dependencies: "[]".into(),
        failure: None,
        date_created: now,
        date_updated: now,
    }
}

/// Environments, builds, deployments, variables, logs and the host's site loading.
async fn deploy_side(store: &dyn Store) {
    let svc = store
        .service(ACCOUNT, ServiceKey::UniqueName("svc-1"))
        .await
        .unwrap();
    let asset = store
        .create_container(ContainerKind::Asset, &container(&svc, "d"))
        .await
        .unwrap();
    let version = Version {
        seq: 0,
        sid: crate::domain::sid::generate(crate::domain::sid::Prefix::Version),
        account_sid: ACCOUNT.into(),
        service_sid: svc.sid.clone(),
        container_sid: asset.sid.clone(),
        path: "/d.css".into(),
        visibility: Visibility::Public,
        content_type: "text/css".into(),
        size: 3,
        sha256: "d".repeat(64),
        date_created: 1,
    };
    let version = store
        .create_version(ContainerKind::Asset, &version)
        .await
        .unwrap();

    // Environments: unique name and suffix per service, and a count limit.
    let dev = store
        .create_environment(&environment(&svc, "dev", Some("dev")), 2)
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_environment(&environment(&svc, "dev", Some("other")), 2)
            .await,
        Err(StoreError::Conflict(Unique::EnvironmentName))
    ));
    assert!(matches!(
        store
            .create_environment(&environment(&svc, "x", Some("DEV")), 2)
            .await,
        Err(StoreError::Conflict(Unique::EnvironmentName))
    ));
    store
        .create_environment(&environment(&svc, "prod", None), 2)
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_environment(&environment(&svc, "third", Some("t")), 2)
            .await,
        Err(StoreError::LimitReached)
    ));

    // Builds: versions in order, quota per hour, and deploy only when completed.
    let first = build(&svc, 1_000);
    store
        .create_build(
            &first,
            std::slice::from_ref(&version.sid),
            &[],
            BuildQuota {
                per_hour: 1,
                now: 1_000,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_build(
                &build(&svc, 1_100),
                &[],
                &[],
                BuildQuota {
                    per_hour: 1,
                    now: 1_100
                }
            )
            .await,
        Err(StoreError::RateLimited {
            retry_after_secs: 3500
        })
    ));
    let detail = store.build(&svc.sid, &first.sid).await.unwrap();
    assert_eq!(detail.assets, vec![version.clone()]);
    // The console's list of builds: the same rows, without their versions.
    let rows = store
        .list_build_rows(
            &svc.sid,
            PageRequest {
                cursor: Cursor::Offset(0),
                size: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(rows.items, std::slice::from_ref(&detail.build));
    // One holder at a time claims a build; a claim lapses unless renewed.
    let claimed = store.claim_build("node-a", 40, 55).await.unwrap().unwrap();
    assert_eq!(claimed.sid, first.sid);
    assert!(store.claim_build("node-b", 41, 56).await.unwrap().is_none());
    assert!(!store
        .renew_build_claim(&first.sid, "node-b", 70)
        .await
        .unwrap());
    assert!(store
        .renew_build_claim(&first.sid, "node-a", 70)
        .await
        .unwrap());
    assert!(store.claim_build("node-b", 60, 75).await.unwrap().is_none());
    let taken_over = store.claim_build("node-b", 71, 86).await.unwrap().unwrap();
    assert_eq!(taken_over.sid, first.sid);
    assert!(!store
        .renew_build_claim(&first.sid, "node-a", 90)
        .await
        .unwrap());
    let deployment = |build_sid: Option<&str>| Deployment {
        seq: 0,
        sid: crate::domain::sid::generate(crate::domain::sid::Prefix::Deployment),
        account_sid: ACCOUNT.into(),
        service_sid: svc.sid.clone(),
        environment_sid: dev.sid.clone(),
        build_sid: build_sid.map(str::to_owned),
        date_created: 20,
        date_updated: 20,
    };
    assert!(matches!(
        store.create_deployment(&deployment(Some(&first.sid))).await,
        Err(StoreError::NotCompleted)
    ));
    assert!(matches!(
        store.create_deployment(&deployment(Some("ZBnope"))).await,
        Err(StoreError::NotFound)
    ));
    store
        .finish_build(&first.sid, BuildStatus::Completed, None, 30)
        .await
        .unwrap();
    // A finished build stays finished.
    store
        .finish_build(&first.sid, BuildStatus::Failed, Some("late"), 31)
        .await
        .unwrap();
    assert_eq!(
        store
            .build(&svc.sid, &first.sid)
            .await
            .unwrap()
            .build
            .status,
        BuildStatus::Completed
    );
    // A finished build is nobody's to claim.
    assert!(store
        .claim_build("node-c", 1_000, 1_015)
        .await
        .unwrap()
        .is_none());
    let mut changes = store.site_changes();
    let deployed = store
        .create_deployment(&deployment(Some(&first.sid)))
        .await
        .unwrap();
    // Announced to every follower (a notification may take a moment to arrive).
    let change = tokio::time::timeout(std::time::Duration::from_secs(5), changes.recv())
        .await
        .expect("a site change is announced")
        .unwrap();
    assert_eq!(change, SiteChange::Domain(dev.domain_name.clone()));
    let live = store.environment(&svc.sid, &dev.sid).await.unwrap();
    assert_eq!(live.build_sid.as_deref(), Some(first.sid.as_str()));
    assert!(matches!(
        store.delete_build(&svc.sid, &first.sid).await,
        Err(StoreError::InUse(env)) if env == dev.sid
    ));
    assert!(matches!(
        store.delete_container(ContainerKind::Asset, &svc.sid, &asset.sid).await,
        Err(StoreError::InUse(b)) if b == first.sid
    ));

    // The host's view of the domain.
    store
        .record_encoding(&Encoded {
            sha256: version.sha256.clone(),
            encoding: "gz".into(),
            size: 2,
        })
        .await
        .unwrap();
    let site = store.site(&dev.domain_name).await.unwrap().unwrap();
    assert_eq!(site.deployment_sid.as_deref(), Some(deployed.sid.as_str()));
    assert_eq!(site.files, vec![(ContainerKind::Asset, version.clone())]);
    assert_eq!(site.encodings.len(), 1);
    assert!(store.site("nobody-0000.localhost").await.unwrap().is_none());
    // A copy made again replaces its record; collected content forgets its copies.
    let remade = Encoded {
        sha256: version.sha256.clone(),
        encoding: "gz".into(),
        size: 3,
    };
    store.record_encoding(&remade).await.unwrap();
    assert_eq!(
        store.encodings(&version.sha256).await.unwrap(),
        vec![remade]
    );
    // Referenced content is never marked for deletion, nor are its copies forgotten.
    let unused = "f".repeat(64);
    store
        .record_encoding(&Encoded {
            sha256: unused.clone(),
            encoding: "br".into(),
            size: 1,
        })
        .await
        .unwrap();
    let doomed = store
        .doom_blobs(&[version.sha256.clone(), unused.clone()], 50)
        .await
        .unwrap();
    assert_eq!(doomed, vec![unused.clone()]);
    assert_eq!(store.encodings(&version.sha256).await.unwrap().len(), 1);
    assert!(store.encodings(&unused).await.unwrap().is_empty());
    assert_eq!(store.doomed_blobs().await.unwrap(), vec![unused.clone()]);
    store.clear_doomed(&doomed).await.unwrap();
    assert!(store.doomed_blobs().await.unwrap().is_empty());

    // Variables: unique keys, partial updates.
    let variable = |key: &str| Variable {
        seq: 0,
        sid: crate::domain::sid::generate(crate::domain::sid::Prefix::Variable),
        account_sid: ACCOUNT.into(),
        service_sid: svc.sid.clone(),
        environment_sid: dev.sid.clone(),
        key: key.into(),
        value: "v".into(),
        date_created: 1,
        date_updated: 1,
    };
    let a = store.create_variable(&variable("A")).await.unwrap();
    store.create_variable(&variable("B")).await.unwrap();
    assert!(matches!(
        store.create_variable(&variable("A")).await,
        Err(StoreError::Conflict(Unique::VariableKey))
    ));
    assert!(matches!(
        store
            .update_variable(&dev.sid, &a.sid, Some("B"), None, 2)
            .await,
        Err(StoreError::Conflict(Unique::VariableKey))
    ));
    let updated = store
        .update_variable(&dev.sid, &a.sid, None, Some(""), 2)
        .await
        .unwrap();
    assert_eq!((updated.key.as_str(), updated.value.as_str()), ("A", ""));

    // Logs: newest first, filtered by date and function.
    for (n, function) in [(1, "ZHf1"), (2, "ZHf2"), (3, "ZHf1")] {
        let log = Log {
            seq: 0,
            sid: format!("NO{n}"),
            account_sid: ACCOUNT.into(),
            service_sid: svc.sid.clone(),
            environment_sid: dev.sid.clone(),
            build_sid: None,
            deployment_sid: None,
            function_sid: Some(function.into()),
            request_sid: format!("RQ{n}"),
            level: "error".into(),
            message: "m".into(),
            date_created: 100 * n,
        };
        store.create_log(&log).await.unwrap();
    }
    let all = PageRequest {
        cursor: Cursor::Offset(0),
        size: 10,
    };
    let sids = |page: Page<Log>| page.items.into_iter().map(|l| l.sid).collect::<Vec<_>>();
    let newest_first = store
        .list_logs(&dev.sid, &LogFilter::default(), all)
        .await
        .unwrap();
    assert_eq!(sids(newest_first), ["NO3", "NO2", "NO1"]);
    let filter = LogFilter {
        start: Some(150),
        end: Some(300),
        function_sid: Some("ZHf1".into()),
    };
    assert_eq!(
        sids(store.list_logs(&dev.sid, &filter, all).await.unwrap()),
        ["NO3"]
    );
    let first_page = store
        .list_logs(
            &dev.sid,
            &LogFilter::default(),
            PageRequest {
                cursor: Cursor::Offset(0),
                size: 2,
            },
        )
        .await
        .unwrap();
    assert!(first_page.has_next);
    let last = first_page.items[1].seq;
    let rest = store
        .list_logs(
            &dev.sid,
            &LogFilter::default(),
            PageRequest {
                cursor: Cursor::After(last),
                size: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(sids(rest), ["NO1"]);

    // Pruning: by age, then beyond a per-environment cap, oldest first.
    let no_filter = LogFilter::default();
    let newest_first = || store.list_logs(&dev.sid, &no_filter, all);
    let mut prune = super::Prune {
        logs_before: Some(150),
        max_logs_per_environment: 0,
        builds_before: 0,
    };
    assert_eq!(store.prune(&prune).await.unwrap().logs, 1);
    assert_eq!(sids(newest_first().await.unwrap()), ["NO3", "NO2"]);
    prune.logs_before = None;
    prune.max_logs_per_environment = 1;
    assert_eq!(store.prune(&prune).await.unwrap().logs, 1);
    assert_eq!(sids(newest_first().await.unwrap()), ["NO3"]);

    // Deleting the environment takes its variables, deployments and logs along.
    store.delete_environment(&svc.sid, &dev.sid).await.unwrap();
    assert!(matches!(
        store.variable(&dev.sid, &a.sid).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.log(&dev.sid, "NO1").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.deployment(&dev.sid, &deployed.sid).await,
        Err(StoreError::NotFound)
    ));
    store.delete_build(&svc.sid, &first.sid).await.unwrap();
}

async fn cascade(store: &dyn Store) {
    let svc = store
        .service(ACCOUNT, ServiceKey::UniqueName("svc-1"))
        .await
        .unwrap();
    store.delete_service(&svc.sid).await.unwrap();
    let page = store
        .list_containers(
            ContainerKind::Asset,
            &svc.sid,
            PageRequest {
                cursor: Cursor::Offset(0),
                size: 50,
            },
        )
        .await
        .unwrap();
    assert!(page.items.is_empty());
    // A child of a vanished parent is refused.
    assert!(matches!(
        store
            .create_container(ContainerKind::Asset, &container(&svc, "orphan"))
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    suite(&store).await;
}

#[tokio::test]
async fn cached_sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = cache::CachedStore::new(SqliteStore::open(&url).await.unwrap(), 1 << 20);
    suite(&store).await;
}

/// A `PgStore` on a schema of its own, or `None` (saying so) when no test database is set.
async fn pg_store(test: &str) -> Option<(std::sync::Arc<PgStore>, TestSchema)> {
    match postgres_test_schema().await.unwrap() {
        None => {
            eprintln!(
                "{test}: skipped: set DEPOT_TEST_POSTGRES_URL \
                 (e.g. postgres://postgres@127.0.0.1:5432/test) to run it"
            );
            None
        }
        Some(schema) => {
            let store = PgStore::open(&schema.url).await.unwrap();
            Some((std::sync::Arc::new(store), schema))
        }
    }
}

/// Runs `checks` (given the store and the URL that opens its schema), then drops the schema
/// whether they passed or not.
async fn on_postgres<F, Fut>(test: &str, checks: F)
where
    F: FnOnce(std::sync::Arc<PgStore>, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures_util::FutureExt;
    let Some((store, schema)) = pg_store(test).await else {
        return;
    };
    let outcome = std::panic::AssertUnwindSafe(checks(store, schema.url.clone()))
        .catch_unwind()
        .await;
    schema.drop_schema().await.unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn postgres_store_conforms() {
    on_postgres("postgres_store_conforms", |store, _| async move {
        suite(store.as_ref()).await;
    })
    .await;
}

/// What several nodes may do at the same moment, which one writer never shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_holds_under_concurrency() {
    on_postgres("postgres_holds_under_concurrency", |store, _| async move {
        use futures_util::future::join_all;
        let store = store.as_ref();
        with_account(store).await;

        // A count limit holds when every request counts at once.
        let created = join_all(
            (0..20).map(|n| async move { store.create_service(&service(n, ACCOUNT), 5).await }),
        )
        .await;
        assert_eq!(created.iter().filter(|r| r.is_ok()).count(), 5);
        assert!(created
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(StoreError::LimitReached))));
        let svc = created.into_iter().find_map(Result::ok).unwrap();

        // Lookups answered together in batches: each hears its own answer.
        let mut containers = Vec::new();
        for n in 0..10 {
            let kind = [ContainerKind::Asset, ContainerKind::Function][n % 2];
            let made = store
                .create_container(kind, &container(&svc, &format!("c{n}")))
                .await
                .unwrap();
            containers.push((kind, made));
        }
        let asked = (0..300).map(|i| {
            let (made_as, wanted) = &containers[i % containers.len()];
            // Every third asks for the other kind (not found), every fifth by unique name.
            let kind = match i % 3 {
                0 => [ContainerKind::Function, ContainerKind::Asset][(i % containers.len()) % 2],
                _ => *made_as,
            };
            let key = if i % 5 == 0 {
                ServiceKey::UniqueName(&svc.unique_name)
            } else {
                ServiceKey::Sid(&svc.sid)
            };
            async move {
                let got = store
                    .service_container(ACCOUNT, key, kind, &wanted.sid)
                    .await;
                (i, kind, *made_as, wanted, got)
            }
        });
        for (i, kind, made_as, wanted, got) in join_all(asked).await {
            if kind == made_as {
                assert_eq!(got.unwrap(), (svc.clone(), wanted.clone()), "lookup {i}");
            } else {
                assert!(matches!(got, Err(StoreError::NotFound)), "lookup {i}");
            }
        }

        // One build, many claimants: one claim.
        let first = build(&svc, 1_000);
        let no_quota = BuildQuota {
            per_hour: 0,
            now: 1_000,
        };
        store
            .create_build(&first, &[], &[], no_quota)
            .await
            .unwrap();
        let claims = join_all(
            (0..8).map(|n| store.claim_build(["a", "b", "c", "d", "e", "f", "g", "h"][n], 10, 20)),
        )
        .await;
        let claimed: Vec<Build> = claims.into_iter().filter_map(|c| c.unwrap()).collect();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].sid, first.sid);

        // A builds-per-hour quota holds too.
        let made = join_all((0..10).map(|_| async {
            store
                .create_build(
                    &build(&svc, 2_000),
                    &[],
                    &[],
                    BuildQuota {
                        per_hour: 4,
                        now: 2_000,
                    },
                )
                .await
        }))
        .await;
        // The first build above counts as well.
        assert_eq!(made.iter().filter(|r| r.is_ok()).count(), 3);

        // A hold and a mark for the same content: exactly one wins.
        for n in 0..40u32 {
            let hash = format!("{n:064x}");
            let candidates = [hash.clone()];
            let (held, doomed) = tokio::join!(
                store.hold_blob(&hash, "upload", 500),
                store.doom_blobs(&candidates, 400)
            );
            let (held, doomed) = (held.unwrap(), doomed.unwrap());
            assert!(
                held != (doomed == candidates),
                "{n}: held {held}, doomed {doomed:?}"
            );
        }

        // Deploying a build while deleting it: either the deployment or the deletion fails.
        let env = store
            .create_environment(&environment(&svc, "race", Some("race")), 0)
            .await
            .unwrap();
        for round in 0..10 {
            let b = build(&svc, 3_000);
            store.create_build(&b, &[], &[], no_quota).await.unwrap();
            store
                .finish_build(&b.sid, BuildStatus::Completed, None, 3_000)
                .await
                .unwrap();
            let deployment = |build_sid: Option<String>| Deployment {
                seq: 0,
                sid: crate::domain::sid::generate(crate::domain::sid::Prefix::Deployment),
                account_sid: ACCOUNT.into(),
                service_sid: svc.sid.clone(),
                environment_sid: env.sid.clone(),
                build_sid,
                date_created: 3_000,
                date_updated: 3_000,
            };
            let racing = deployment(Some(b.sid.clone()));
            let (deployed, deleted) = tokio::join!(
                store.create_deployment(&racing),
                store.delete_build(&svc.sid, &b.sid)
            );
            match (&deployed, &deleted) {
                (Ok(_), Err(StoreError::InUse(e))) if *e == env.sid => {
                    store.create_deployment(&deployment(None)).await.unwrap();
                    store.delete_build(&svc.sid, &b.sid).await.unwrap();
                }
                (Err(StoreError::NotFound), Ok(())) => {}
                _ => panic!("round {round}: deployed {deployed:?}, deleted {deleted:?}"),
            }
        }

        // Building a version while deleting its asset: either the build or the deletion fails.
        for round in 0..10 {
            let asset = store
                .create_container(ContainerKind::Asset, &container(&svc, "raced"))
                .await
                .unwrap();
            let version = Version {
                seq: 0,
                sid: crate::domain::sid::generate(crate::domain::sid::Prefix::Version),
                account_sid: ACCOUNT.into(),
                service_sid: svc.sid.clone(),
                container_sid: asset.sid.clone(),
                path: "/r".into(),
                visibility: Visibility::Public,
                content_type: "text/plain".into(),
                size: 1,
                sha256: "e".repeat(64),
                date_created: 1,
            };
            store
                .create_version(ContainerKind::Asset, &version)
                .await
                .unwrap();
            let b = build(&svc, 4_000);
            let (built, deleted) = tokio::join!(
                store.create_build(&b, std::slice::from_ref(&version.sid), &[], no_quota),
                store.delete_container(ContainerKind::Asset, &svc.sid, &asset.sid)
            );
            match (&built, &deleted) {
                (Ok(_), Err(StoreError::InUse(used))) if *used == b.sid => {}
                (Err(StoreError::NotFound), Ok(())) => {}
                _ => panic!("round {round}: built {built:?}, deleted {deleted:?}"),
            }
        }
    })
    .await;
}

/// Waits up to `secs` seconds for `wanted` among the changes `changes` hears.
async fn hear(
    changes: &mut tokio::sync::broadcast::Receiver<SiteChange>,
    wanted: &SiteChange,
    secs: u64,
) -> bool {
    let waiting = async {
        loop {
            match changes.recv().await {
                Ok(change) if change == *wanted => return true,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return false,
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(secs), waiting)
        .await
        .unwrap_or(false)
}

/// A deployment, an environment deleted, a service deleted (its environments by cascade): each
/// made by one node and heard by another, also after the listening connection was cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_site_changes_reach_every_node() {
    on_postgres(
        "postgres_site_changes_reach_every_node",
        |store, url| async move {
            let other = PgStore::open(&url).await.unwrap();
            with_account(store.as_ref()).await;
            let svc = store.create_service(&service(1, ACCOUNT), 0).await.unwrap();
            let dev = store
                .create_environment(&environment(&svc, "dev", Some("dev")), 0)
                .await
                .unwrap();
            let b = build(&svc, 1_000);
            let no_quota = BuildQuota {
                per_hour: 0,
                now: 1_000,
            };
            store.create_build(&b, &[], &[], no_quota).await.unwrap();
            store
                .finish_build(&b.sid, BuildStatus::Completed, None, 1_000)
                .await
                .unwrap();
            let deployment = || Deployment {
                seq: 0,
                sid: crate::domain::sid::generate(crate::domain::sid::Prefix::Deployment),
                account_sid: ACCOUNT.into(),
                service_sid: svc.sid.clone(),
                environment_sid: dev.sid.clone(),
                build_sid: Some(b.sid.clone()),
                date_created: 1_000,
                date_updated: 1_000,
            };
            let mut changes = store.site_changes();
            let dev_changed = SiteChange::Domain(dev.domain_name.clone());
            other.create_deployment(&deployment()).await.unwrap();
            assert!(hear(&mut changes, &dev_changed, 5).await);

            // Cut the listening connections: every site may have changed unheard.
            let admin = PgPool::connect(&url).await.unwrap();
            let cut: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = current_setting('application_name') \
             AND query LIKE 'LISTEN%'",
            )
            .fetch_all(&admin)
            .await
            .unwrap();
            assert!(!cut.is_empty());
            assert!(hear(&mut changes, &SiteChange::All, 5).await);
            // Listening again soon: a later change is heard as itself.
            let mut heard_again = false;
            for _ in 0..20 {
                other.create_deployment(&deployment()).await.unwrap();
                if hear(&mut changes, &dev_changed, 1).await {
                    heard_again = true;
                    break;
                }
            }
            assert!(heard_again);

            other.delete_environment(&svc.sid, &dev.sid).await.unwrap();
            assert!(hear(&mut changes, &dev_changed, 5).await);
            let prod = store
                .create_environment(&environment(&svc, "prod", None), 0)
                .await
                .unwrap();
            other.delete_service(&svc.sid).await.unwrap();
            let prod_changed = SiteChange::Domain(prod.domain_name.clone());
            assert!(hear(&mut changes, &prod_changed, 5).await);
        },
    )
    .await;
}
