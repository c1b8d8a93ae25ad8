//! `celeryscope top`: the cluster in the terminal, in the spirit of `celery
//! events` (the curses monitor), built on `events::State`: the workers (an
//! offline one stays, in red) and the newest tasks, refreshed in place.
//! `q` or Ctrl-C quits.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Row, Table};
use ratatui::Frame;
use signals_celery::events::{EventReceiver, State, Task, TaskState};

use crate::broker::{SubscribeOptions, Watched};

/// `top`'s options.
#[derive(Args, Clone, Debug)]
pub(crate) struct TopOptions {
    #[command(flatten)]
    pub(crate) broker: crate::broker::BrokerArgs,
    /// Milliseconds between refreshes.
    #[arg(long, default_value_t = 1_000)]
    pub(crate) refresh_ms: u64,
}

pub(crate) fn run(options: &TopOptions) -> Result<(), String> {
    let state = Arc::new(State::new());
    let receiver = EventReceiver::builder().on_state(state.clone()).build();
    let subscribe = SubscribeOptions {
        failover: options.broker.failover()?,
        ..SubscribeOptions::default()
    };
    let source =
        Watched::open(&options.broker.url, &subscribe).map_err(|error| error.to_string())?;
    // Kept while the view runs: dropping it stops following.
    let _following = receiver
        .spawn(source)
        .map_err(|error| format!("cannot start the event thread: {error}"))?;
    let shown = signals_celery::mask_password(&options.broker.url);

    let mut terminal = ratatui::init();
    let refresh = Duration::from_millis(options.refresh_ms.max(50));
    let result = loop {
        if let Err(error) = terminal.draw(|frame| draw(frame, &shown, &state)) {
            break Err(error);
        }
        match event::poll(refresh) {
            Ok(true) => match event::read() {
                Ok(TermEvent::Key(key))
                    if key.code == KeyCode::Char('q')
                        || (key.code == KeyCode::Char('c')
                            && key.modifiers.contains(KeyModifiers::CONTROL)) =>
                {
                    break Ok(())
                }
                Ok(_) => {}
                Err(error) => break Err(error),
            },
            Ok(false) => {}
            Err(error) => break Err(error),
        }
    };
    ratatui::restore();
    result.map_err(|error| error.to_string())
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

fn draw(frame: &mut Frame<'_>, url: &str, state: &State) {
    let now = now();
    let view = state.read();
    let workers: Vec<_> = view.workers().collect();
    let alive = workers.iter().filter(|w| w.alive_at(now)).count();
    let [header, workers_area, tasks_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(workers.len().clamp(1, 10) as u16 + 3),
        Constraint::Min(4),
    ])
    .areas(frame.area());

    frame.render_widget(
        Line::from(format!(
            " celeryscope top | {url} | events: {} | tasks: {} | workers: {} ({alive} online) | q quits",
            view.event_count(),
            view.task_len(),
            workers.len(),
        ))
        .style(Style::new().add_modifier(Modifier::REVERSED)),
        header,
    );

    let worker_rows = workers.iter().map(|w| {
        let online = w.alive_at(now);
        let heartbeat = w.heartbeats.last().map_or("-".to_owned(), |last| {
            format!("{:.1} s ago", (now - last).max(0.0))
        });
        let load = w.loadavg.as_ref().map_or("-".to_owned(), |l| {
            l.iter()
                .map(|v| format!("{v:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        });
        Row::new(vec![
            w.hostname.to_string(),
            if online { "ONLINE" } else { "OFFLINE" }.to_owned(),
            w.active.map_or("-".into(), |n| n.to_string()),
            w.processed.map_or("-".into(), |n| n.to_string()),
            load,
            heartbeat,
        ])
        .style(Style::new().fg(if online { Color::Green } else { Color::Red }))
    });
    frame.render_widget(
        Table::new(
            worker_rows,
            [
                Constraint::Fill(3),
                Constraint::Length(8),
                Constraint::Length(7),
                Constraint::Length(10),
                Constraint::Length(15),
                Constraint::Length(12),
            ],
        )
        .header(
            Row::new([
                "worker",
                "status",
                "active",
                "processed",
                "load",
                "heartbeat",
            ])
            .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .block(Block::bordered().title(" Workers ")),
        workers_area,
    );

    let rows_fit = tasks_area.height.saturating_sub(3) as usize;
    let task_rows = view.tasks_by_time().take(rows_fit).map(task_row);
    frame.render_widget(
        Table::new(
            task_rows,
            [
                Constraint::Length(36),
                Constraint::Fill(2),
                Constraint::Length(9),
                Constraint::Fill(1),
                Constraint::Length(9),
                Constraint::Fill(2),
            ],
        )
        .header(
            Row::new([
                "uuid",
                "name",
                "state",
                "worker",
                "runtime",
                "result / exception",
            ])
            .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .block(Block::bordered().title(" Newest tasks ")),
        tasks_area,
    );
}

fn task_row(task: &Task) -> Row<'static> {
    let color = match task.state {
        TaskState::Success => Color::Green,
        TaskState::Failure | TaskState::Rejected => Color::Red,
        TaskState::Retry | TaskState::Revoked => Color::Yellow,
        _ => Color::Reset,
    };
    let outcome = match task.state {
        TaskState::Failure | TaskState::Retry | TaskState::Rejected => task.exception.as_deref(),
        _ => task.result.as_deref(),
    }
    .unwrap_or_default();
    Row::new(vec![
        task.uuid.to_string(),
        printable(task.name.as_deref().unwrap_or("-")),
        task.state.as_str().to_owned(),
        task.worker.as_deref().unwrap_or("-").to_owned(),
        task.runtime.map_or("-".to_owned(), |r| format!("{r:.3} s")),
        printable(outcome),
    ])
    .style(Style::new().fg(color))
}

/// The text with control characters escaped (`\n`): one would break the
/// screen's layout.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}
