"""The measurement kinds shipped with mtj-hil, one registration each."""

from mtj_hil.kinds.registry import MeasurementKind, register

register(
    MeasurementKind(
        name="characterization",
        title="die characterisation (resistance and defect maps, yield)",
        plan="mtj_hil.protocols.characterize.plan:CharacterizationPlan",
        check_plan="mtj_hil.protocols.characterize.plan:check_plan",
        procedure="mtj_hil.protocols.characterize.procedure:characterize_die",
        store="mtj_hil.runs.store.characterization:CharacterizationRun",
        load="mtj_hil.runs.store.characterization:load_characterization",
        job="mtj_hil.runs.jobs.characterization:run_characterization",
        report="mtj_hil.reports.characterization:characterization_report",
        summary="mtj_hil.cli.characterize:summarise",
        command="mtj_hil.cli.characterize:characterize",
        campaign="mtj_hil.campaigns.kinds.characterize",
        nexus="mtj_hil.runs.store.nexus_plots:characterization_plot",
        dataset="mtj_hil.labelled.characterization:characterization_dataset",
    )
)

register(
    MeasurementKind(
        name="switching",
        title="switching characterisation (P(switch), Vc0/Delta, WER, read disturb)",
        plan="mtj_hil.protocols.switching.procedure:SwitchingPlan",
        check_plan="mtj_hil.protocols.switching.procedure:check_plan",
        procedure="mtj_hil.protocols.switching.procedure:measure_switching_die",
        store="mtj_hil.runs.store.switching:SwitchingRun",
        load="mtj_hil.runs.store.switching:load_switching",
        job="mtj_hil.runs.jobs.switching:run_switching",
        report="mtj_hil.reports.switching:switching_report",
        summary="mtj_hil.cli.switching:summarise_switching",
        command="mtj_hil.cli.switching:switching",
        campaign="mtj_hil.campaigns.kinds.switching",
        nexus="mtj_hil.runs.store.nexus_plots:switching_plot",
        dataset="mtj_hil.labelled.switching:switching_dataset",
    )
)
