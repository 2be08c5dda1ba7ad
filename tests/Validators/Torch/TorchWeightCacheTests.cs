using FluentAssertions;
using ModelForge.Converters.Checkpoints;
using ModelForge.Graphs.Ir;
using ModelForge.Tests.Support;
using ModelForge.Validators.Fixtures;
using ModelForge.Validators.Torch;
using Xunit;

namespace ModelForge.Tests.Validators.Torch;

/// <summary>
/// Issue 16: evaluators of different case graphs (deepencoder-tiny at 256 and 160 px: resized position tables, same
/// checkpoint) share one converted copy of each checkpoint weight, and compute exactly what unshared evaluators do.
/// </summary>
public sealed class TorchWeightCacheTests
{
    [Fact]
    public void Two_case_graphs_share_each_weight_once_and_match_unshared_results()
    {
        TorchRuntime.Initialize(ComputeDevice.Cpu);
        using var fixture = GoldenFixture.Load(Repo.Golden("deepencoder-tiny"));
        var arch = fixture.Architecture;
        var byCase = fixture.Cases.ToDictionary(c => c.Name);
        Graph Build(string name)
        {
            var g = arch.Build(fixture.Config, arch.RequestForCase(byCase[name].Json));
            g.PruneUnused();
            return g;
        }
        var weights = new CheckpointWeights(fixture.Checkpoint, arch.AdapterFor(fixture.Config));
        Graph g256 = Build("case0"), g160 = Build("case2");
        var keys = g256.Initializers.Concat(g160.Initializers).Select(i => i.Data).OfType<WeightData>().Select(w => w.Key)
            .Distinct().Count();

        using var cache = new TorchWeightCache(weights);
        var first = new TorchEvaluator(g256, weights, cache: cache);
        using var second = new TorchEvaluator(g160, weights, cache: cache);
        cache.Count.Should().Be(keys, "each checkpoint weight of the two graphs is converted once");
        var shared256 = first.Run(byCase["case0"].Inputs);
        first.Dispose();   // the cache owns the weights: the other evaluator still runs on them
        var shared160 = second.Run(byCase["case2"].Inputs);
        cache.Count.Should().Be(keys);

        using var own256 = new TorchEvaluator(g256, weights);
        using var own160 = new TorchEvaluator(g160, weights);
        var pairs = new[] { (shared256, own256.Run(byCase["case0"].Inputs)), (shared160, own160.Run(byCase["case2"].Inputs)) };
        foreach (var (shared, own) in pairs)
            foreach (var (name, t) in own)
                shared[name].Data.Should().Equal(t.Data, $"output {name} is computed from the same weights");

        var other = new CheckpointWeights(fixture.Checkpoint, arch.AdapterFor(fixture.Config));
        var refuse = () => new TorchEvaluator(g256, other, cache: cache);
        refuse.Should().Throw<ArgumentException>().WithMessage("*another weight source*");
    }
}
