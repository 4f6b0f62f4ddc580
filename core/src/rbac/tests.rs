use super::*;
use Permission::*;

/// Every permission for every role: the seed's rules, as a table.
#[test]
fn every_permission_for_every_role() {
    let table: [(Permission, [bool; 3]); 15] = [
        //                       viewer developer admin
        (ReadApps, [true, true, true]),
        (ListSecretNames, [true, true, true]),
        (WriteSecrets, [false, true, true]),
        (InjectSecrets, [false, true, true]),
        (StartAgentSession, [false, true, true]),
        (ManageWebhooks, [false, true, true]),
        (ConnectIntegrations, [false, true, true]),
        (ManageApiTokens, [false, false, true]),
        (ManageUsers, [false, false, true]),
        (ManageSettings, [false, false, true]),
        (ReadAuditLog, [false, false, true]),
        (OverrideDeployGate, [false, false, true]),
        (ManageOwnApiTokens, [false, true, true]),
        (SignWebhooks, [false, false, true]),
        (RotateWebhookSecrets, [false, false, true]),
    ];
    let policy = Policy::new();
    assert_eq!(
        policy.permissions().count(),
        table.len(),
        "the table covers every permission"
    );
    for (p, allowed) in table {
        for (role, want) in Role::ALL.into_iter().zip(allowed) {
            let got = policy.decide(role, &Scopes::all(), p).is_allowed();
            assert_eq!(got, want, "{role} {}", policy.name(p));
            assert!(!policy.decide(role, &Scopes::none(), p).is_allowed());
        }
    }
}

#[test]
fn a_viewer_changes_nothing_and_inject_is_separate_from_list() {
    let policy = Policy::new();
    let changes = [
        WriteSecrets,
        InjectSecrets,
        StartAgentSession,
        ManageWebhooks,
        ConnectIntegrations,
        ManageApiTokens,
        ManageUsers,
        ManageSettings,
        OverrideDeployGate,
        ManageOwnApiTokens,
        SignWebhooks,
        RotateWebhookSecrets,
    ];
    for p in changes {
        assert_eq!(
            policy.decide(Role::Viewer, &Scopes::all(), p),
            Decision::Deny
        );
    }
    let list_only = Scopes::only(&[ListSecretNames]);
    assert!(
        !policy
            .decide(Role::Admin, &list_only, InjectSecrets)
            .is_allowed()
    );
    let inject_only = Scopes::only(&[InjectSecrets]);
    assert!(
        policy
            .decide(Role::Developer, &inject_only, InjectSecrets)
            .is_allowed()
    );
    assert!(
        !policy
            .decide(Role::Developer, &inject_only, ListSecretNames)
            .is_allowed()
    );
}

#[test]
fn scopes_only_narrow() {
    let policy = Policy::new();
    // A Viewer's token scoped to write still cannot write.
    let write = Scopes::parse(&policy, &["secrets:write"]).unwrap();
    assert!(
        !policy
            .decide(Role::Viewer, &write, WriteSecrets)
            .is_allowed()
    );
    assert!(
        policy
            .decide(Role::Developer, &write, WriteSecrets)
            .is_allowed()
    );
    assert!(Scopes::parse(&policy, &["secrets:everything"]).is_err());
    assert_eq!(Scopes::parse(&policy, &["*"]).unwrap(), Scopes::all());
    let both = Scopes::parse(&policy, &["apps:read", "audit:read"]).unwrap();
    assert_eq!(both.names(&policy), ["apps:read", "audit:read"]);
    assert_eq!(
        both.intersect(Scopes::only(&[ReadApps])),
        Scopes::only(&[ReadApps])
    );
    assert_eq!(Scopes::all().names(&policy), ["*"]);
}

#[test]
fn custom_permissions() {
    let mut policy = Policy::new();
    let p = policy
        .register("deploy:promote", &[Role::Developer, Role::Admin])
        .unwrap();
    assert_eq!(policy.name(p), "deploy:promote");
    assert_eq!(policy.permission("deploy:promote"), Some(p));
    assert!(!policy.decide(Role::Viewer, &Scopes::all(), p).is_allowed());
    assert!(
        policy
            .decide(Role::Developer, &Scopes::all(), p)
            .is_allowed()
    );
    let scoped = Scopes::parse(&policy, &["deploy:promote"]).unwrap();
    assert!(policy.decide(Role::Admin, &scoped, p).is_allowed());
    assert!(!policy.decide(Role::Admin, &scoped, ReadApps).is_allowed());
    assert!(matches!(
        policy.register("deploy:promote", &[]),
        Err(Error::AlreadyExists { .. })
    ));
    assert!(policy.register("apps:read", &[]).is_err());
    assert!(policy.register("Bad Name", &[]).is_err());
    assert!(policy.register("*", &[]).is_err());
    // A permission of another policy is unknown here: denied, not a panic.
    let other = Policy::new();
    assert!(!other.decide(Role::Admin, &Scopes::all(), p).is_allowed());
    for i in 0..(MAX_PERMISSIONS - BUILTIN.len() - 1) {
        policy.register(&format!("p{i}"), &[Role::Admin]).unwrap();
    }
    assert!(policy.register("one-too-many", &[]).is_err());
}

/// The role table in the module docs says what `Policy::new` grants.
#[test]
fn the_documented_role_table_is_the_policy() {
    let source = include_str!("../rbac.rs");
    let policy = Policy::new();
    let mut seen = Vec::new();
    for line in source.lines().filter_map(|l| l.strip_prefix("//! | `")) {
        let cells: Vec<&str> = line.split(" | ").map(str::trim).collect();
        let name = cells[0].trim_end_matches('`');
        let permission = policy.permission(name).unwrap_or_else(|| panic!("{name}"));
        let roles: Vec<bool> = cells[2..5]
            .iter()
            .map(
                |c| match c.trim_end_matches(" |").trim_end_matches('|').trim() {
                    "yes" => true,
                    "–" => false,
                    other => panic!("{name}: `{other}`"),
                },
            )
            .collect();
        for (role, want) in Role::ALL.into_iter().zip(roles) {
            let got = policy.decide(role, &Scopes::all(), permission).is_allowed();
            assert_eq!(got, want, "{name} for {role}");
        }
        seen.push(name.to_owned());
    }
    let all: Vec<String> = policy
        .permissions()
        .map(|p| policy.name(p).to_owned())
        .collect();
    seen.sort();
    let mut all_sorted = all.clone();
    all_sorted.sort();
    assert_eq!(seen, all_sorted, "one row per permission");
}
