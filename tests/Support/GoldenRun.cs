using ModelForge.Converters.Checkpoints;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Parity;
using ModelForge.Validators.Torch;

namespace ModelForge.Tests.Support;

/// <summary>
/// The setup the family golden tests share: TorchSharp initialised on the CPU (the reference path needs libtorch loaded
/// before any evaluator exists), the named golden fixture opened, its parity run and its weights. The assertions and logs
/// stay in each test, since every family checks and prints a different set of outputs and traces. Disposing closes the
/// fixture's files.
/// </summary>
public sealed class GoldenRun : IDisposable
{
    private GoldenRun(GoldenFixture fixture) => Fixture = fixture;

    /// <summary>The opened fixture (config, checkpoint, cases).</summary>
    public GoldenFixture Fixture { get; }

    /// <summary>Initialises TorchSharp on the CPU and opens fixtures/golden/<paramref name="name"/>.</summary>
    public static GoldenRun Open(string name)
    {
        TorchRuntime.Initialize(ComputeDevice.Cpu);
        return new GoldenRun(GoldenFixture.Load(Repo.Golden(name)));
    }

    /// <summary>Every case on the paths <paramref name="options"/> selects (default: both, against the goldens and each other).</summary>
    public ValidationReport Parity(ValidationOptions? options = null) =>
        new ParityRunner(options ?? new ValidationOptions()).RunFixture(Fixture);

    /// <summary>The fixture's checkpoint read through its family's adapter, as export and the reference path read it.</summary>
    public CheckpointWeights Weights() => new(Fixture.Checkpoint, Fixture.Architecture.Adapter);

    /// <inheritdoc/>
    public void Dispose() => Fixture.Dispose();
}
