//! "Allow outbound traffic": which namespace may reach which external hosts, on which ports and
//! protocols, and why. Hosts and ports are rows the user adds and removes.

use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::fields::{
    FilesPreview, FormState, GeneralProblems, JustificationField, SelectField, TextField,
};
use super::new_api::{
    environment_options, first_namespace, namespace_options, team_options, viewer_scope,
};
use crate::catalog::{CatalogConfig, load_catalog_config};
use crate::components::problems::FieldMessages;
use crate::errors;
use crate::requests::form::{EgressForm, PortRow};
use crate::requests::live::{KnownClaims, live_check};
use crate::requests::{FormStart, SubmitEgress, form_setup};

const FIELDS: &[&str] = &[
    "environment",
    "team",
    "namespace",
    "hosts",
    "ports",
    "addresses",
    "via_egress_gateway",
    "justification",
];

#[component]
pub fn NewEgressPage() -> impl IntoView {
    let query = use_query_map();
    let setup = Resource::new(
        move || query.with(|q| q.get("draft")),
        |draft| form_setup(draft, None),
    );
    let catalog = Resource::new(|| (), |()| load_catalog_config());
    view! {
        <Suspense fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (setup.await, catalog.await) {
                    (Ok(setup), Ok(config)) => view! { <EgressRequestForm setup config /> }.into_any(),
                    (Err(error), _) | (_, Err(error)) => view! {
                        <Title text="Allow outbound traffic" />
                        <h1>"Allow outbound traffic"</h1>
                        <p class="status bad">{errors::describe(&error)}</p>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// One editable row; the key keeps its input in place while other rows come and go.
#[derive(Clone, Copy)]
struct HostRow {
    key: usize,
    value: RwSignal<String>,
}

#[derive(Clone, Copy)]
struct PortInputs {
    key: usize,
    number: RwSignal<String>,
    protocol: RwSignal<String>,
}

#[component]
fn EgressRequestForm(setup: FormStart, config: CatalogConfig) -> impl IntoView {
    let scope = viewer_scope();
    let initial = setup.egress.clone().unwrap_or_else(|| {
        let environment = config.environments.first();
        let team = team_options(&config, &scope)
            .first()
            .map(|(t, _)| t.clone())
            .unwrap_or_default();
        EgressForm {
            environment: environment.map(|e| e.name.clone()).unwrap_or_default(),
            namespace: first_namespace(&config, &team),
            team,
            hosts: vec![String::new()],
            ports: vec![PortRow {
                number: "443".to_owned(),
                protocol: "TLS".to_owned(),
            }],
            ..EgressForm::default()
        }
    });
    let environment = RwSignal::new(initial.environment);
    let team = RwSignal::new(initial.team);
    let namespace = RwSignal::new(initial.namespace);
    let via_gateway = RwSignal::new(initial.via_egress_gateway == "on");
    let addresses = RwSignal::new(initial.addresses);
    let justification = RwSignal::new(initial.justification);
    let next_key = StoredValue::new(0usize);
    let new_key = move || {
        next_key.update_value(|k| *k += 1);
        next_key.get_value()
    };
    let mut host_values = initial.hosts;
    if host_values.is_empty() {
        host_values.push(String::new());
    }
    let hosts = RwSignal::new(
        host_values
            .into_iter()
            .map(|h| HostRow {
                key: new_key(),
                value: RwSignal::new(h),
            })
            .collect::<Vec<_>>(),
    );
    let mut port_values = initial.ports;
    if port_values.is_empty() {
        port_values.push(PortRow::default());
    }
    let ports = RwSignal::new(
        port_values
            .into_iter()
            .map(|p| PortInputs {
                key: new_key(),
                number: RwSignal::new(p.number),
                protocol: RwSignal::new(p.protocol),
            })
            .collect::<Vec<_>>(),
    );

    let catalog = mesh::Catalog::from_config(config.environments.clone(), config.teams.clone());
    let claims = KnownClaims::new(&setup.claims, None, setup.observed.clone());
    let live = {
        let scope = scope.clone();
        Memo::new(move |_| {
            let form = EgressForm {
                environment: environment.get(),
                team: team.get(),
                namespace: namespace.get(),
                hosts: hosts.get().iter().map(|h| h.value.get()).collect(),
                ports: ports
                    .get()
                    .iter()
                    .map(|p| PortRow {
                        number: p.number.get(),
                        protocol: p.protocol.get(),
                    })
                    .collect(),
                addresses: addresses.get(),
                via_egress_gateway: if via_gateway.get() { "on" } else { "" }.to_owned(),
                justification: String::new(),
            };
            match &catalog {
                Ok(catalog) => live_check(catalog, &scope, &claims, form.to_value()),
                Err(problems) => crate::requests::live::LiveCheck {
                    problems: problems.clone(),
                    files: Vec::new(),
                },
            }
        })
    };
    let state = FormState::new(live, setup.problems.clone());
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let submit = ServerAction::<SubmitEgress>::new();
    Effect::new(move |_| state.after_submit(submit.value().get()));

    let config = StoredValue::new(config);
    let environments = Signal::derive(move || config.with_value(environment_options));
    let teams = {
        let scope = scope.clone();
        Signal::derive(move || config.with_value(|c| team_options(c, &scope)))
    };
    let claim_views = StoredValue::new(setup.claims.clone());
    let namespaces = Signal::derive(move || {
        let (env, team) = (environment.get(), team.get());
        config.with_value(|c| {
            claim_views.with_value(|claims| namespace_options(c, claims, &env, &team))
        })
    });
    let on_team = Callback::new(move |team: String| {
        namespace.set(config.with_value(|c| first_namespace(c, &team)));
    });
    let has_gateway = Signal::derive(move || {
        let env = environment.get();
        config.with_value(|c| {
            c.environments
                .iter()
                .any(|e| e.name == env && e.egress.mode == "gateway")
        })
    });
    // Where the environment sends all egress through its gateway, the choice is made.
    let gateway_required = Signal::derive(move || {
        let env = environment.get();
        config.with_value(|c| {
            c.environments
                .iter()
                .any(|e| e.name == env && e.egress.mode == "gateway" && e.egress.required)
        })
    });
    Effect::new(move |_| {
        if gateway_required.get() {
            via_gateway.set(true);
        }
    });
    let protocols = Signal::derive(move || {
        let env = environment.get();
        let allowed: Vec<String> = config.with_value(|c| {
            c.environments
                .iter()
                .find(|e| e.name == env)
                .and_then(|e| e.policy.allowed_protocols.clone())
                .unwrap_or_else(|| vec!["TLS".to_owned(), "HTTPS".to_owned()])
        });
        allowed
    });
    let hosts_messages = state.messages("hosts");
    let ports_messages = state.messages("ports");

    view! {
        <Title text="Allow outbound traffic" />
        <h1>"Allow outbound traffic"</h1>
        <p class="lead">
            "Let a namespace of your team reach hosts outside the cluster. The mesh blocks every \
             external host that is not registered; this registers yours for your namespace only."
        </p>
        <div class="split form-split" data-hydrated=move || hydrated.get().to_string()>
            <ActionForm action=submit attr:id="request-form" attr:novalidate=true>
                <input type="hidden" name="key" value=setup.key.clone() />
                <fieldset>
                    <legend>"Where"</legend>
                    <SelectField field="environment" label="Environment" value=environment state options=environments />
                    <SelectField field="team" label="Team" value=team state options=teams on_change=on_team />
                    <SelectField field="namespace" label="Namespace" value=namespace state options=namespaces
                        hint="Workloads in this namespace get to reach the hosts." />
                </fieldset>
                <fieldset>
                    <legend>"External hosts"</legend>
                    <p class="hint" id="hosts-hint">"Like api.stripe.com, or *.example.com where wildcards are allowed."</p>
                    <For each=move || hosts.get() key=|row| row.key let:row>
                        {
                            let index = move || hosts.with(|rows| rows.iter().position(|r| r.key == row.key).unwrap_or(0));
                            let field = move || format!("hosts[{}]", index());
                            let messages = Signal::derive(move || {
                                let field = field();
                                state.row_messages(&field)
                            });
                            view! {
                                <div class="row">
                                    <label class="visually-hidden" for=move || format!("hosts-{}-", index())>
                                        {move || format!("External host {}", index() + 1)}
                                    </label>
                                    <input type="text"
                                        id=move || format!("hosts-{}-", index())
                                        name=move || format!("form[hosts][{}]", index())
                                        value=row.value.get_untracked()
                                        prop:value=row.value
                                        autocomplete="off" spellcheck="false" placeholder="api.stripe.com"
                                        aria-describedby=move || format!("hosts-hint hosts-{}-messages", index())
                                        on:input=move |event| { row.value.set(event_target_value(&event)); state.edited(); }
                                        on:change=move |_| state.leave(&field())
                                    />
                                    <button type="button" class="secondary"
                                        aria-label=move || format!("Remove external host {}", index() + 1)
                                        disabled=move || hosts.with(|rows| rows.len() < 2)
                                        on:click=move |_| hosts.update(|rows| rows.retain(|r| r.key != row.key))>
                                        "Remove"
                                    </button>
                                    <FieldMessages id=format!("hosts-{}-messages", index()) messages />
                                </div>
                            }
                        }
                    </For>
                    <button type="button" class="secondary" id="add-host"
                        on:click=move |_| { let key = new_key(); hosts.update(|rows| rows.push(HostRow { key, value: RwSignal::new(String::new()) })); }>
                        "Add a host"
                    </button>
                    <FieldMessages id="hosts-messages".to_owned() messages=hosts_messages />
                </fieldset>
                <fieldset>
                    <legend>"Ports"</legend>
                    <For each=move || ports.get() key=|row| row.key let:row>
                        {
                            let index = move || ports.with(|rows| rows.iter().position(|r| r.key == row.key).unwrap_or(0));
                            let field = move || format!("ports[{}]", index());
                            let messages = Signal::derive(move || {
                                let field = field();
                                state.row_messages(&field)
                            });
                            view! {
                                <div class="row">
                                    <label for=move || format!("ports-{}-", index())>{move || format!("Port {}", index() + 1)}</label>
                                    <input type="text" inputmode="numeric" class="narrow"
                                        id=move || format!("ports-{}-", index())
                                        name=move || format!("form[ports][{}][number]", index())
                                        value=row.number.get_untracked()
                                        prop:value=row.number
                                        aria-describedby=move || format!("ports-{}-messages", index())
                                        on:input=move |event| { row.number.set(event_target_value(&event)); state.edited(); }
                                        on:change=move |_| state.leave(&field())
                                    />
                                    <label for=move || format!("ports-{}-protocol", index())>"Protocol"</label>
                                    <select
                                        id=move || format!("ports-{}-protocol", index())
                                        name=move || format!("form[ports][{}][protocol]", index())
                                        on:change=move |event| { row.protocol.set(event_target_value(&event)); state.edited(); }>
                                        {move || {
                                            let current = row.protocol.get();
                                            protocols.get().into_iter().map(|p| {
                                                let selected = p == current;
                                                view! { <option value=p.clone() selected=selected>{p.clone()}</option> }
                                            }).collect_view()
                                        }}
                                    </select>
                                    <button type="button" class="secondary"
                                        aria-label=move || format!("Remove port {}", index() + 1)
                                        disabled=move || ports.with(|rows| rows.len() < 2)
                                        on:click=move |_| ports.update(|rows| rows.retain(|r| r.key != row.key))>
                                        "Remove"
                                    </button>
                                    <FieldMessages id=format!("ports-{}-messages", index()) messages />
                                </div>
                            }
                        }
                    </For>
                    <button type="button" class="secondary" id="add-port"
                        on:click=move |_| {
                            let key = new_key();
                            ports.update(|rows| rows.push(PortInputs { key, number: RwSignal::new(String::new()), protocol: RwSignal::new("TLS".to_owned()) }));
                        }>
                        "Add a port"
                    </button>
                    <FieldMessages id="ports-messages".to_owned() messages=ports_messages />
                </fieldset>
                // Plain TCP carries no host name: it is matched on the external addresses.
                <Show when=move || ports.with(|rows| rows.iter().any(|r| r.protocol.get() == "TCP")) || !addresses.with(String::is_empty)>
                    <TextField field="addresses" label="Addresses (plain TCP)" value=addresses state
                        hint="Plain TCP is matched on the external service's addresses: list them as CIDR blocks, e.g. 203.0.113.10/32, separated by commas."
                        placeholder="203.0.113.10/32" />
                </Show>
                <Show when=move || has_gateway.get() && !gateway_required.get()>
                    <div class="field checkbox">
                        <input type="checkbox" id="via_egress_gateway" name="form[via_egress_gateway]" value="on"
                            checked=via_gateway.get_untracked()
                            prop:checked=via_gateway
                            on:change=move |event| { via_gateway.set(event_target_checked(&event)); state.edited(); } />
                        <label for="via_egress_gateway">"Send this traffic through the environment's egress gateway"</label>
                    </div>
                </Show>
                <Show when=move || gateway_required.get()>
                    <input type="hidden" name="form[via_egress_gateway]" value="on" />
                    <p class="hint" id="via-gateway-required">
                        "This environment sends all outbound traffic through its egress gateway."
                    </p>
                </Show>
                <JustificationField value=justification state />
                <GeneralProblems problems=state.general(FIELDS) />
                <div class="actions">
                    <button type="submit" id="ask-for-review" disabled=move || submit.pending().get()>
                        "Ask for review"
                    </button>
                </div>
            </ActionForm>
            <FilesPreview state />
        </div>
    }
}
